"""``TrainConfig``: every training option, with defaults, from a YAML/TOML file and/or flags."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..config_base import ConfigBase
from ..data.readers import find_split, is_empty_split
from ..errors import ConfigError, DatasetError
from ..files import atomic_text_file

OPTIMIZERS = ("adam", "adamw", "adadelta")
SCHEDULES = ("cosine", "onecycle", "constant")
AMP_MODES = ("off", "auto", "bf16", "fp16")
AUGMENT_MODES = ("auto", "on", "off")
FREEZE_BN_MODES = ("auto", "on", "off")
FROM_SCRATCH_LR = 3e-3  # Adam/AdamW's default learning rates (TrainConfig.learning_rate)
FINE_TUNING_LR = 2e-4


@dataclass
class TrainConfig(ConfigBase):
    """Options of one training run; saved beside the model as ``config.json``."""

    config_kind: ClassVar[str] = "training options"

    model_dir: str = "runs/crnn"
    data_dir: str | None = None  # the seed's layout: DATA_DIR/train and DATA_DIR/validation
    train: list[str] = field(default_factory=list)  # sources, each optionally "@WEIGHT"
    val: list[str] = field(default_factory=list)
    arch: str = "small"
    # None: with --init-from the model's (plus what the data adds), else the training data's own (its
    # char_map.json or LMDB metadata), else lower-alnum (initial.run_charset).
    charset: str | None = None
    height: int = 32
    channels: int = 1
    max_width: int = 1280
    init_from: str | None = None
    batch_size: int = 64
    max_steps: int | None = None
    epochs: int | None = None
    epoch_size: int | None = None  # samples per epoch; default: the real sources' total, or 100,000 for synth only
    optimizer: str = "adam"
    lr: float | None = None  # default: learning_rate (3e-3 from scratch, 2e-4 with init_from; 1.0 for adadelta)
    schedule: str = "cosine"
    warmup_steps: int = 200
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    # Validate and save an exponential moving average of the weights (decay per step, e.g. 0.999),
    # not the last step's: late in a fine-tuning run single steps wander (ema.py). None: off.
    ema_decay: float | None = None
    amp: str = "auto"  # precision.py: bf16 where the device computes it natively, else fp32
    workers: int = 2
    # Stored images (not synth:) perturbed anew each epoch (augment.py). auto: on when starting from a
    # trained model (--init-from), off from scratch, where it kept the model on CTC's plateau far longer
    # (docs/training_recipes.md).
    augment: str = "auto"
    # Weight of a training-only CTC loss on the CNN's features (cnn_head.py); None: 0.5 from scratch,
    # 0 with --init-from (a trained CNN needs no such help, and a fresh head would only disturb it).
    cnn_ctc: float | None = None
    # Batch norm's statistics kept as the model file has them (its layers in eval mode; their scale and
    # shift still train). auto: on with --init-from, off from scratch. Recomputed on new batches, they
    # moved the bundled model's deeper layers' means 2-2.7 times and cost it 4.5 points on IIIT5K before
    # a single weight moved (docs/training_recipes.md).
    freeze_bn: str = "auto"
    seed: int = 0
    device: str = "auto"
    val_every: int = 500
    val_limit: int | None = None  # validate on at most this many samples
    val_protocol: str = "lower-alnum"
    save_every: int = 200
    patience: int | None = None  # stop after this many validations without improvement
    max_bad_steps: int = 50  # stop after this many non-finite losses in a row
    log_every: int = 20

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.augment not in AUGMENT_MODES:
            raise ConfigError(f"--augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment!r}")
        if self.freeze_bn not in FREEZE_BN_MODES:
            raise ConfigError(f"--freeze-bn must be one of {', '.join(FREEZE_BN_MODES)}, got {self.freeze_bn!r}")
        if self.cnn_ctc is not None and not (isinstance(self.cnn_ctc, int | float) and self.cnn_ctc >= 0):
            raise ConfigError(f"--cnn-ctc must be a weight >= 0 (0 turns the head off), got {self.cnn_ctc!r}")
        if self.ema_decay is not None and not (isinstance(self.ema_decay, int | float) and 0 < self.ema_decay < 1):
            raise ConfigError(f"--ema-decay must lie strictly between 0 and 1 (e.g. 0.999), got {self.ema_decay!r}")
        if self.amp not in AMP_MODES:
            raise ConfigError(f"--amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        for name in ("batch_size", "val_every", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("--max-steps must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError("--epochs must be at least 1")

    def with_sources(self) -> TrainConfig:
        """This config with its data resolved: without ``train`` sources, the seed's ``data_dir`` layout
        gives ``DATA_DIR/train`` and, without ``val`` sources, ``DATA_DIR/validation`` where there is a
        non-empty one (an LMDB folder or a ``.tfrecord``). ``DatasetError`` when ``DATA_DIR`` holds no train split,
        ``ConfigError`` when there is no training data at all."""
        train, val = self.train, self.val
        if self.data_dir and not train:
            train = [str(find_split(self.data_dir, "train"))]
            if not val:
                try:
                    split: Path | None = find_split(self.data_dir, "validation")
                except DatasetError:
                    split = None
                # An empty split (--validation_split_fraction 0) is no validation, not one that scores 0.00%.
                val = [] if split is None or is_empty_split(split) else [str(split)]
        if not train:
            raise ConfigError(
                "no training data: pass --data_dir DIR, --train SRC [SRC ...], or a --config file naming them"
            )
        return self if (train, val) == (self.train, self.val) else replace(self, train=train, val=val)

    @property
    def augments(self) -> bool:
        """Whether stored training images are perturbed, as ``augment`` resolves for this run."""
        return self.augment == "on" or (self.augment == "auto" and self.init_from is not None)

    @property
    def freezes_batch_norm(self) -> bool:
        """Whether batch norm's statistics stay as loaded, as ``freeze_bn`` resolves for this run."""
        return self.freeze_bn == "on" or (self.freeze_bn == "auto" and self.init_from is not None)

    @property
    def cnn_ctc_weight(self) -> float:
        """The CNN head's loss weight, as ``cnn_ctc`` resolves for this run."""
        if self.cnn_ctc is not None:
            return float(self.cnn_ctc)
        return 0.0 if self.init_from is not None else 0.5

    @property
    def learning_rate(self) -> float:
        """``lr`` as given; by default 1.0 for Adadelta, and for Adam/AdamW 3e-3 from scratch (it left CTC's
        plateau sooner than 1e-3 in every run measured) and 2e-4 with ``init_from`` (1e-3 lost the bundled
        model real words that 2e-4 kept): docs/training_recipes.md, docs/fine_tuning.md."""
        return self._learning_rate_and_origin()[0]

    @property
    def learning_rate_origin(self) -> str:
        """Why the run uses ``learning_rate``, for the line that announces it."""
        return self._learning_rate_and_origin()[1]

    def _learning_rate_and_origin(self) -> tuple[float, str]:
        if self.lr is not None:
            return self.lr, "--lr"
        if self.optimizer == "adadelta":
            return 1.0, "the default for adadelta"
        if self.init_from is not None:
            return FINE_TUNING_LR, "the default with --init-from"
        return FROM_SCRATCH_LR, "the default from scratch"

    def save(self, path: Path, **resolved: Any) -> None:
        """The options as given, plus what they resolved to on this machine (``resolved``, e.g. the
        precision ``--amp auto`` chose), under ``"resolved"``."""
        values = {**self.to_dict(), **({"resolved": resolved} if resolved else {})}
        with atomic_text_file(path) as out:  # a run killed while writing leaves the old file whole
            out.write(json.dumps(values, indent=1) + "\n")

    @classmethod
    def from_dict(cls, values: dict[str, Any], origin: str = "config") -> TrainConfig:
        """Options as ``crnn train``'s flags name them (``-`` or ``_``); a saved ``config.json``'s
        ``"resolved"`` record is ignored, and a single source may be a string."""
        cleaned = {key.replace("-", "_"): value for key, value in values.items() if key != "resolved"}
        for key in ("train", "val"):
            if isinstance(cleaned.get(key), str):
                cleaned[key] = [cleaned[key]]
        for name in ("augment", "freeze_bn"):
            if isinstance(cleaned.get(name), bool):  # YAML reads a bare on/off as a boolean
                cleaned[name] = "on" if cleaned[name] else "off"
        return super().from_dict(cleaned, origin)
