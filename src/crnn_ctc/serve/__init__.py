"""``crnn serve``: the HTTP service (FastAPI + uvicorn) and its web page. See docs/serving.md.

``ServeConfig`` imports nothing heavy; ``create_app`` and ``run_server`` import FastAPI on first use, so
other commands never load the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import ServeConfig

if TYPE_CHECKING:
    from .app import create_app
    from .server import run_server

__all__ = ["ServeConfig", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "run_server":
        from .server import run_server

        return run_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
