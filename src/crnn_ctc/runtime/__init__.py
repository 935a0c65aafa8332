"""Inference engines behind one interface (``Engine``): the network only, never pre/post-processing."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import torch

from ..bundle import ModelBundle
from ..files import atomic_file
from .base import Engine
from .onnx_engine import OnnxEngine
from .torch_engine import TorchEngine, resolve_device

BACKENDS = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "crnn-ctc" / "onnx"


def onnx_model_bytes(bundle: ModelBundle) -> bytes:
    """The bundle exported to ONNX; cached on disk by the model file's hash (an export takes seconds)."""
    from ..export import onnx_bytes

    if bundle.path is None or not bundle.path.is_file():
        return onnx_bytes(bundle)
    digest = hashlib.sha256(bundle.path.read_bytes()).hexdigest()[:32]
    cached = _cache_dir() / f"{digest}.onnx"
    if cached.is_file():
        return cached.read_bytes()
    data = onnx_bytes(bundle)
    try:
        with atomic_file(cached) as file:
            file.write(data)
    except OSError:  # a read-only home is no reason to fail: the export is in memory
        pass
    return data


def create_engine(
    bundle: ModelBundle, backend: str = "auto", device: str = "auto", threads: int | None = None
) -> Engine:
    """The engine named ``backend`` for ``bundle``. ``auto``: ONNX Runtime when installed and the
    device is the CPU (1.2 to 2.3 times PyTorch eager there: docs/benchmarks.md), else PyTorch."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "onnx" if onnx_available() and resolve_device(device).type == "cpu" else "torch"
    if backend == "onnx":
        if not onnx_available():
            raise ValueError("--backend onnx needs the onnx and onnxruntime packages: pip install onnx onnxruntime")
        return OnnxEngine(onnx_model_bytes(bundle), threads=threads)
    return TorchEngine(bundle.model, device)


def set_threads(threads: int | None) -> None:
    """Limit PyTorch's CPU threads (process-wide, as its setting is); ONNX Runtime takes them per session."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


__all__ = [
    "BACKENDS",
    "Engine",
    "OnnxEngine",
    "TorchEngine",
    "create_engine",
    "onnx_available",
    "resolve_device",
    "set_threads",
]
