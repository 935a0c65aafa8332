"""The model file: weights in safetensors, everything else as JSON in its metadata.

One ``.safetensors`` file carries the architecture, the charset, the preprocessing parameters,
a format version and the training provenance, so it is all a user needs to recognize text.
Loading parses JSON and raw tensors only: no pickle, no code runs. Reading the config
(``read_description``, ``read_model_info``) needs no PyTorch; only the network does.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from ._version import __version__
from .charset import Charset
from .errors import CharsetError, ConfigError, ModelFileError
from .files import atomic_file
from .model import ModelConfig, build_model
from .preprocess import PreprocessConfig

if TYPE_CHECKING:
    import torch

    from .model import CRNN

FORMAT_NAME = "crnn-ctc-model"
FORMAT_VERSION = 1
METADATA_KEY = "crnn_ctc"
MODEL_SUFFIX = ".safetensors"
ASSETS_DIR = Path(__file__).parent / "assets"
BUNDLED_MODEL = ASSETS_DIR / "crnn-ctc-default.safetensors"


@dataclass
class ModelBundle:
    """A network together with the charset and preprocessing it was trained with."""

    model: CRNN
    charset: Charset
    preprocess: PreprocessConfig
    provenance: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # How confidences are calibrated (calibration.py): {"temperature": T, ...}; empty: T = 1.
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(self.config, self.charset, self.preprocess, self.provenance, self.path, self.calibration)

    def describe(self) -> dict[str, Any]:
        """The JSON config stored in the file (and shown by ``crnn info``)."""
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "crnn_ctc_version": __version__,
            "model": self.config.to_dict(),
            "charset": list(self.charset.symbols),
            "preprocess": self.preprocess.to_dict(),
            "provenance": self.provenance,
            **({"calibration": self.calibration} if self.calibration else {}),
        }


def new_bundle(
    arch: str,
    charset: Charset,
    preprocess: PreprocessConfig | None = None,
    *,
    seed: int | None = None,
) -> ModelBundle:
    """A randomly initialised model for ``charset`` (the start of training, and test fixtures)."""
    import torch

    preprocess = preprocess or PreprocessConfig()
    config = ModelConfig.for_arch(arch, charset.num_classes, in_channels=preprocess.channels, height=preprocess.height)
    _check_consistent(config, charset, preprocess)
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build_model(config)
    else:
        model = build_model(config)
    return ModelBundle(model.eval(), charset, preprocess, {"created": _now(), "initialisation": "random"})


def save_bundle(bundle: ModelBundle, path: str | Path) -> Path:
    """Write ``bundle`` to ``path`` atomically: readers see the old file or the complete new one."""
    import torch
    from safetensors.torch import save as safetensors_bytes

    path = Path(path)
    provenance = {"saved": _now(), "torch_version": torch.__version__, **bundle.provenance}
    description = {**bundle.describe(), "provenance": provenance}
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in bundle.model.state_dict().items()}
    payload = safetensors_bytes(tensors, metadata={METADATA_KEY: json.dumps(description, ensure_ascii=False)})
    with atomic_file(path) as file:
        file.write(payload)
    bundle.path = path
    return path


def read_description(path: str | Path) -> dict[str, Any]:
    """The JSON config of a model file, without building the network (nor importing PyTorch).
    Raises ``ModelFileError``."""
    path = _existing_file(path)
    try:
        with safe_open(str(path), framework="numpy") as file:  # the header only: no tensor is read
            metadata = file.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise ModelFileError(
            f"{path}: not a readable safetensors file ({error}); is it damaged or truncated?"
        ) from None
    if METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{path}: a safetensors file, but not a crnn-ctc model (no {METADATA_KEY!r} entry in its metadata)"
        )
    try:
        description = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the model's JSON config is malformed: {error}") from None
    if not isinstance(description, dict) or description.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: the metadata does not describe a {FORMAT_NAME} file")
    version = description.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written in model format {version} by crnn-ctc {description.get('crnn_ctc_version', '?')}; "
            f"this crnn-ctc ({__version__}) reads format {FORMAT_VERSION} and older: upgrade crnn-ctc"
        )
    return description


@dataclass
class ModelInfo:
    """What a model file says about its model, without the weights (all an ONNX engine needs)."""

    config: ModelConfig
    charset: Charset
    preprocess: PreprocessConfig
    provenance: dict[str, Any]
    path: Path | None
    calibration: dict[str, Any] = field(default_factory=dict)

    @property
    def temperature(self) -> float:
        """The log-probabilities are divided by this before decoding (1: as the network gives them)."""
        return float(self.calibration.get("temperature", 1.0))


def _checked_calibration(value: Any, path: Path | None) -> dict[str, Any]:
    if value is None:
        return {}
    temperature = value.get("temperature", 1.0) if isinstance(value, dict) else None
    if not isinstance(temperature, int | float) or not 0.05 <= float(temperature) <= 20.0:
        raise ModelFileError(f"{path}: invalid calibration {value!r}: expected a temperature in [0.05, 20]")
    return dict(value)


def model_info(description: dict[str, Any], path: Path | None) -> ModelInfo:
    """Validate a model file's JSON config; any problem raises ``ModelFileError`` naming the file."""
    try:
        config = ModelConfig.from_dict(description["model"])
        charset = Charset(description["charset"])
        preprocess = PreprocessConfig.from_dict(description["preprocess"])
        _check_consistent(config, charset, preprocess)
    except KeyError as error:
        raise ModelFileError(f"{path}: the model's config lacks {error.args[0]!r}") from None
    except (ConfigError, CharsetError, TypeError) as error:
        raise ModelFileError(f"{path}: invalid model config: {error}") from None
    calibration = _checked_calibration(description.get("calibration"), path)
    return ModelInfo(config, charset, preprocess, dict(description.get("provenance") or {}), path, calibration)


def read_model_info(path: str | Path) -> ModelInfo:
    """A model file's ``ModelInfo`` from its JSON config alone: all an ONNX engine needs, without PyTorch."""
    path = _existing_file(path)
    return model_info(read_description(path), path)


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file: names a model file's ONNX export in the cache, and ties an int8 graph to it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_bundle(path: str | Path, *, device: str | torch.device = "cpu") -> ModelBundle:
    """Load a model file; any problem with it raises ``ModelFileError`` saying what is wrong."""
    path = _existing_file(path)
    info = model_info(read_description(path), path)
    config = info.config
    model = build_model(config)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as file:
            tensors = {name: file.get_tensor(name) for name in file.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise ModelFileError(f"{path}: cannot read the weights ({error}); is the file damaged?") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as error:
        summary = str(error).strip().splitlines()
        raise ModelFileError(
            f"{path}: the weights do not fit the {config.arch!r} architecture it declares: "
            + " ".join(line.strip() for line in summary[:4])
        ) from None
    model.to(device).eval()
    return ModelBundle(model, info.charset, info.preprocess, info.provenance, path, info.calibration)


def find_model_file(model_dir: str | Path) -> Path:
    """The newest ``.safetensors`` model file in ``model_dir`` (the seed's ``--model_dir``)."""
    directory = Path(model_dir)
    if not directory.is_dir():
        raise ModelFileError(f"{directory}: no such model directory")
    candidates = [p for p in directory.iterdir() if p.is_file() and p.suffix == MODEL_SUFFIX]
    if not candidates:
        found = sorted(p.name for p in directory.iterdir())[:8]
        raise ModelFileError(
            f"{directory}: no {MODEL_SUFFIX} model file in this directory"
            + (f" (found: {', '.join(found)})" if found else " (it is empty)")
        )
    return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))


def resolve_model_path(model: str | Path | None = None, model_dir: str | Path | None = None) -> Path:
    """An explicit file, else the newest file in ``model_dir``, else the model bundled with the package."""
    if model is not None:
        return Path(model)
    if model_dir is not None:
        return find_model_file(model_dir)
    if BUNDLED_MODEL.is_file():
        return BUNDLED_MODEL
    raise ModelFileError(
        "no model given and this installation has no bundled model: pass a model file (--model FILE) "
        "or a directory holding one (--model_dir DIR)"
    )


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file (for a directory use --model_dir)")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty file (0 bytes)")
    return path


def _check_consistent(config: ModelConfig, charset: Charset, preprocess: PreprocessConfig) -> None:
    if config.num_classes != charset.num_classes:
        raise ConfigError(
            f"the network has {config.num_classes} classes but the charset needs {charset.num_classes} "
            f"({len(charset)} symbols + blank)"
        )
    if config.in_channels != preprocess.channels or config.height != preprocess.height:
        raise ConfigError(
            f"the network takes {config.in_channels}x{config.height} px input but preprocessing makes "
            f"{preprocess.channels}x{preprocess.height}"
        )
    narrowest = preprocess.fixed_width or preprocess.min_width
    if config.output_length(narrowest) < 1:
        raise ConfigError(
            f"images {narrowest} px wide give the network no time steps; "
            f"min_width must be at least {config.min_input_width()}"
        )


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
