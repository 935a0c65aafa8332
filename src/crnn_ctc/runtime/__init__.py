"""Inference engines behind one interface (``Engine``): the network only, never pre/post-processing.

PyTorch is imported only by the engines that need it: the ``torch`` engine, and the fp32 ONNX graph
on a miss of its export cache. An int8 companion graph, a cached fp32 graph and an ``.onnx`` file run
under ONNX Runtime from the model file's JSON config alone (``bundle.read_model_info``).

The runtime exports the fp32 graph itself (``onnx_graph``) and never imports ``export.py``, which
builds on the runtime (its parity check runs an ``OnnxEngine``): export depends on runtime, not back.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..bundle import ModelBundle, ModelInfo, file_sha256, load_bundle
from ..cpu import int8_reads_like_fp32
from ..errors import ConfigError, ModelFileError
from ..extras import extra_imports
from ..files import atomic_file, cache_dir
from .base import Engine
from .metadata import SOURCE_KEY
from .onnx_engine import OnnxEngine

if TYPE_CHECKING:
    from .torch_engine import TorchEngine, resolve_device

BACKENDS = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def _cache_dir() -> Path:
    return cache_dir("onnx")


def _cache_entry(model: ModelBundle | ModelInfo) -> Path | None:
    """Where the model's fp32 export is cached: named by the model file's hash (None: no file to hash)."""
    if model.path is None or not model.path.is_file():
        return None
    return _cache_dir() / f"{file_sha256(model.path)[:32]}.onnx"


def onnx_model_bytes(model: ModelBundle | ModelInfo) -> bytes:
    """The model exported to ONNX; cached on disk by the model file's hash (an export takes seconds)."""
    cached = _cache_entry(model)
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    return _export_and_cache(_network(model), cached)


def _network(model: ModelBundle | ModelInfo, threads: int | None = None) -> ModelBundle:
    """The model with its PyTorch network: loaded from its file, importing PyTorch (with ``threads``),
    when only the config is at hand."""
    if isinstance(model, ModelBundle):
        return model
    if model.path is None:
        raise ModelFileError("a model without a file: its network cannot be loaded")
    bundle = load_bundle(model.path)
    set_threads(threads)  # PyTorch is imported now
    return bundle


def _export_and_cache(bundle: ModelBundle, cached: Path | None) -> bytes:
    from .onnx_graph import onnx_bytes  # PyTorch's exporter: imported on a cache miss only

    data = onnx_bytes(bundle)
    if cached is not None:
        try:
            with atomic_file(cached) as file:
                file.write(data)
        except OSError:  # a read-only home is no reason to fail: the export is in memory
            pass
    return data


def _fp32_onnx_engine(model: ModelBundle | ModelInfo, threads: int | None) -> OnnxEngine:
    """The fp32 graph under ONNX Runtime: the one shipped beside the model file (``fp32_companion``), or
    the export cache's when it holds it (both without PyTorch), else exported now.
    An entry that does not load (a disk error, a copy cut short) is removed, with a warning naming it,
    and the model exported again: a damaged cache must not break a model for good."""
    shipped = fp32_companion(model.path)
    if shipped is not None:
        return OnnxEngine(shipped, threads=threads)
    cached = _cache_entry(model)
    if cached is not None and cached.is_file():
        try:
            return OnnxEngine(cached.read_bytes(), threads=threads)
        except (ModelFileError, OSError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            warnings.warn(f"{cached}: a damaged entry of the ONNX export cache, removed and exported again ({reason})",
                          stacklevel=3)  # fmt: skip
            with contextlib.suppress(OSError):
                cached.unlink()
    return OnnxEngine(_export_and_cache(_network(model, threads), cached), threads=threads)


def int8_companion(model_path: Path | None) -> Path | None:
    """The int8 graph shipped beside a model file (``NAME.int8.onnx``, written by ``crnn export --int8``
    from exactly this file), or None. One exported from another version of the file is ignored, with
    a warning, rather than trusted."""
    return _companion(model_path, ".int8.onnx")


def fp32_companion(model_path: Path | None) -> Path | None:
    """The fp32 graph shipped beside a model file (``NAME.onnx``, written by ``crnn export`` from exactly
    this file), or None: with it, CPUs where the int8 graph is not used run without PyTorch too."""
    return _companion(model_path, ".onnx")


def _companion(model_path: Path | None, suffix: str) -> Path | None:
    if model_path is None or model_path.suffix == ".onnx":
        return None
    companion = model_path.with_name(model_path.stem + suffix)
    if not companion.is_file():
        return None
    import onnx

    try:
        metadata = {
            entry.key: entry.value for entry in onnx.load(str(companion), load_external_data=False).metadata_props
        }
    except Exception as error:  # a damaged companion must not stop the fp32 path
        warnings.warn(f"{companion}: unreadable ({error}); using the fp32 graph", stacklevel=3)
        return None
    if metadata.get(SOURCE_KEY) != file_sha256(model_path):
        warnings.warn(f"{companion} was not exported from {model_path.name} as it is now; using the fp32 graph",
                      stacklevel=3)  # fmt: skip
        return None
    return companion


def create_engine(
    model: ModelBundle | ModelInfo, backend: str = "auto", device: str = "auto", threads: int | None = None
) -> Engine:
    """The engine named ``backend`` for ``model``: a loaded bundle, or only a model file's ``ModelInfo``
    (``bundle.read_model_info``), whose network is then loaded, importing PyTorch, only where the engine
    needs it (``torch``, or an fp32 graph not yet in the export cache). ``auto`` on a CPU with ONNX
    Runtime installed: the model's int8 companion graph if it ships one (``int8_companion``: the bundled
    model does, reading as fp32 does and faster, docs/benchmarks.md) and the CPU is one where int8 reads
    like fp32 (``cpu.int8_reads_like_fp32``: x86 with VNNI), else the fp32 ONNX graph (1.2 to 2.3 times
    PyTorch eager there); PyTorch on a GPU. ``onnx`` is always the fp32 graph, ``torch`` eager."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "auto":
        backend = "onnx" if onnx_available() and _runs_on_cpu(device) else "torch"
        # Without VNNI the companion is not even looked at: the fp32 graph is the rule there, not a fallback.
        companion = int8_companion(model.path) if backend == "onnx" and int8_reads_like_fp32() else None
        if companion is not None:
            return OnnxEngine(companion, threads=threads)
    if backend == "onnx":
        if not onnx_available():
            raise ConfigError("--backend onnx needs the onnx and onnxruntime packages: pip install onnx onnxruntime")
        return _fp32_onnx_engine(model, threads)
    with extra_imports("train", "the torch backend"):  # without PyTorch: an error naming the extra
        from .torch_engine import TorchEngine

    return TorchEngine(_network(model, threads).model, device)


def _runs_on_cpu(device: str) -> bool:
    """Whether ``device`` (auto, cpu, cuda, cuda:N) is the CPU. PyTorch (seconds to import) is asked only
    where it might see a GPU: ``auto`` is the CPU without asking on a machine with no GPU driver, or
    with a PyTorch built without GPU support, where ``torch.cuda.is_available()`` is False."""
    if str(device) == "cpu" or (str(device) == "auto" and not _gpu_possible()):
        return True
    from .torch_engine import resolve_device

    return resolve_device(device).type == "cpu"


# Device files of the GPU drivers PyTorch can use on Linux: NVIDIA (CUDA), AMD (ROCm), WSL2's GPU.
_GPU_DRIVER_FILES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/version", "/dev/kfd", "/dev/dxg")


def _torch_libraries() -> Path | None:
    """PyTorch's ``lib`` folder, found without importing PyTorch (None: PyTorch is not installed)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def _gpu_possible() -> bool:
    """False where PyTorch cannot see a GPU, told from files without importing it: PyTorch is absent or
    built for the CPU only (no CUDA or ROCm library in its ``lib``), or on Linux no GPU driver is present."""
    libraries = _torch_libraries()
    if libraries is None:
        return False
    if libraries.is_dir() and not any(
        "torch_cuda" in entry.name or "torch_hip" in entry.name for entry in libraries.iterdir()
    ):
        return False
    if sys.platform.startswith("linux"):
        return any(Path(name).exists() for name in _GPU_DRIVER_FILES)
    return True


def set_threads(threads: int | None) -> None:
    """Limit PyTorch's CPU threads (process-wide, as its setting is); ONNX Runtime takes them per session.
    PyTorch is not imported for this: an engine that imports it later sets them then (``_network``)."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(threads)


def __getattr__(name: str) -> Any:
    if name in ("TorchEngine", "resolve_device"):  # PyTorch's: imported on first use
        from . import torch_engine

        return getattr(torch_engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
