"""``crnn serve``: the HTTP service (FastAPI + uvicorn) and its web page. See docs/serving.md.

``ServeConfig`` imports nothing heavy; ``create_app`` and ``run_server`` import FastAPI on first use, so
other commands never load the web stack, and a missing web stack (the ``serve`` extra) is named there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..extras import extra_imports
from .config import ServeConfig

if TYPE_CHECKING:
    from .app import create_app
    from .server import run_server

__all__ = ["ServeConfig", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        with extra_imports("serve", "the HTTP service"):
            from .app import create_app

        return create_app
    if name == "run_server":
        with extra_imports("serve", "the HTTP service"):
            from .server import run_server  # FastAPI and uvicorn, through app.py and timeouts.py

        return run_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
