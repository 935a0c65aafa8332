"""Inference engines behind one interface (``Engine``): the network only, never pre/post-processing."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import warnings
from pathlib import Path

import torch

from ..bundle import ModelBundle
from ..cpu import int8_reads_like_fp32
from ..errors import ModelFileError
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


def _cache_entry(bundle: ModelBundle) -> Path | None:
    """Where the bundle's fp32 export is cached: named by the model file's hash (None: no file to hash)."""
    from ..export import file_sha256

    if bundle.path is None or not bundle.path.is_file():
        return None
    return _cache_dir() / f"{file_sha256(bundle.path)[:32]}.onnx"


def onnx_model_bytes(bundle: ModelBundle) -> bytes:
    """The bundle exported to ONNX; cached on disk by the model file's hash (an export takes seconds)."""
    cached = _cache_entry(bundle)
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    return _export_and_cache(bundle, cached)


def _export_and_cache(bundle: ModelBundle, cached: Path | None) -> bytes:
    from ..export import onnx_bytes

    data = onnx_bytes(bundle)
    if cached is not None:
        try:
            with atomic_file(cached) as file:
                file.write(data)
        except OSError:  # a read-only home is no reason to fail: the export is in memory
            pass
    return data


def _fp32_onnx_engine(bundle: ModelBundle, threads: int | None) -> OnnxEngine:
    """The fp32 graph under ONNX Runtime, from the export cache when it holds it. An entry that does not
    load (a disk error, a copy cut short) is removed, with a warning naming it, and the model exported
    again: a damaged cache must not break a model for good."""
    cached = _cache_entry(bundle)
    if cached is not None and cached.is_file():
        try:
            return OnnxEngine(cached.read_bytes(), threads=threads)
        except (ModelFileError, OSError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            warnings.warn(f"{cached}: a damaged entry of the ONNX export cache, removed and exported again ({reason})",
                          stacklevel=3)  # fmt: skip
            with contextlib.suppress(OSError):
                cached.unlink()
    return OnnxEngine(_export_and_cache(bundle, cached), threads=threads)


def int8_companion(model_path: Path | None) -> Path | None:
    """The int8 graph shipped beside a model file (``NAME.int8.onnx``, written by ``crnn export --int8``
    from exactly this file), or None. One exported from another version of the file is ignored, with
    a warning, rather than trusted."""
    if model_path is None:
        return None
    companion = model_path.with_name(model_path.stem + ".int8.onnx")
    if not companion.is_file():
        return None
    import onnx

    from ..export import SOURCE_KEY, file_sha256

    try:
        metadata = {
            entry.key: entry.value for entry in onnx.load(str(companion), load_external_data=False).metadata_props
        }
    except Exception as error:  # a damaged companion must not stop the fp32 path
        warnings.warn(f"{companion}: unreadable ({error}); using the fp32 graph", stacklevel=2)
        return None
    if metadata.get(SOURCE_KEY) != file_sha256(model_path):
        warnings.warn(f"{companion} was not exported from {model_path.name} as it is now; using the fp32 graph",
                      stacklevel=2)  # fmt: skip
        return None
    return companion


def create_engine(
    bundle: ModelBundle, backend: str = "auto", device: str = "auto", threads: int | None = None
) -> Engine:
    """The engine named ``backend`` for ``bundle``. ``auto`` on a CPU with ONNX Runtime installed: the
    model's int8 companion graph if it ships one (``int8_companion``: the bundled model does, reading as
    fp32 does and faster, docs/benchmarks.md) and the CPU is one where int8 reads like fp32
    (``cpu.int8_reads_like_fp32``: x86 with VNNI), else the fp32 ONNX graph (1.2 to 2.3 times PyTorch
    eager there); PyTorch on a GPU. ``onnx`` is always the fp32 graph, ``torch`` eager."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "onnx" if onnx_available() and resolve_device(device).type == "cpu" else "torch"
        # Without VNNI the companion is not even looked at: the fp32 graph is the rule there, not a fallback.
        companion = int8_companion(bundle.path) if backend == "onnx" and int8_reads_like_fp32() else None
        if companion is not None:
            return OnnxEngine(companion, threads=threads)
    if backend == "onnx":
        if not onnx_available():
            raise ValueError("--backend onnx needs the onnx and onnxruntime packages: pip install onnx onnxruntime")
        return _fp32_onnx_engine(bundle, threads)
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
    "int8_companion",
    "onnx_available",
    "resolve_device",
    "set_threads",
]
