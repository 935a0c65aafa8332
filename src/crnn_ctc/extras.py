"""Optional dependencies: the core installs what inference needs; training and serving are extras
(pyproject.toml). A command whose extra is missing stops with a ``MissingExtraError`` that names the
module and the ``pip install`` that brings it, instead of a bare ``ModuleNotFoundError``."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

from .errors import CrnnError

# Extra -> the top-level modules it brings that this package imports (kept equal to pyproject.toml's
# [project.optional-dependencies] by tests/test_packaging.py).
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "train": frozenset({"torch", "lmdb", "google_crc32c", "matplotlib", "tensorboard", "yaml", "tomli", "fontTools"}),
    "serve": frozenset(
        {"fastapi", "fastapi_offline", "starlette", "pydantic", "anyio", "uvicorn", "prometheus_client"}
    ),
}


class MissingExtraError(CrnnError, ImportError):
    """A module of an optional extra is not installed: says which, what needs it, and how to install it."""

    def __init__(self, module: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the Python module {module!r}, which is not installed; it comes with the "
            f"{extra!r} extra: pip install 'crnn-ctc[{extra}]'",
            name=module,
        )
        self.module = module
        self.extra = extra


@contextlib.contextmanager
def extra_imports(extra: str, purpose: str) -> Iterator[None]:
    """Imports in this block come from ``extra``: a missing module of it raises ``MissingExtraError``.
    A missing module that no extra of ours brings is a broken installation and keeps its own error.

        with extra_imports("train", "ONNX export"):
            import torch
    """
    try:
        yield
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in EXTRA_MODULES[extra]:
            raise
        raise MissingExtraError(missing, extra, purpose) from error


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """``module`` imported, or ``MissingExtraError`` naming ``pip install 'crnn-ctc[EXTRA]'``."""
    with extra_imports(extra, purpose):
        imported = importlib.import_module(module)
    return imported
