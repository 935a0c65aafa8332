"""Architecture descriptions: a small table of named variants, stored verbatim in model files."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ..config_base import ConfigBase
from ..errors import ConfigError


@dataclass(frozen=True)
class Layer:
    """One CNN layer. ``conv``: kernel x kernel convolution (+ batch norm) + ReLU; ``pool``: max-pool."""

    kind: str  # "conv" | "pool"
    channels: int = 0  # conv only
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (1, 1)
    batch_norm: bool = False

    def out_size(self, size: int, axis: int) -> int:
        """Output height (axis 0) or width (axis 1) for an input of ``size``; the formula of Conv2d/MaxPool2d."""
        return (size + 2 * self.padding[axis] - self.kernel[axis]) // self.stride[axis] + 1


def conv(channels: int, *, batch_norm: bool = False, kernel: int = 3, padding: int = 1) -> Layer:
    return Layer("conv", channels, (kernel, kernel), (1, 1), (padding, padding), batch_norm)


def pool(kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int] = (0, 0)) -> Layer:
    return Layer("pool", 0, kernel, stride, padding)


POOL_2X2 = pool((2, 2), (2, 2))
# Halves the height only: keeps horizontal resolution for narrow characters (the paper's 1x2 pooling).
POOL_2X1 = pool((2, 2), (2, 1), (0, 1))

ARCHITECTURES: dict[str, dict[str, Any]] = {
    # The paper's network (Shi et al., Table 1): 7 convolutions, BN after the 5th and 6th, a 2x2 valid
    # last convolution, then two BiLSTM(256) with a linear layer after each. 8.3M parameters at 37 classes.
    "vgg": {
        "layers": (
            conv(64),
            POOL_2X2,
            conv(128),
            POOL_2X2,
            conv(256),
            conv(256),
            POOL_2X1,
            conv(512, batch_norm=True),
            conv(512, batch_norm=True),
            POOL_2X1,
            conv(512, kernel=2, padding=0),
        ),
        "hidden_size": 256,
    },
    # Our CPU variant: the same geometry (so the same time steps per width) at about a fifth of the
    # convolution cost, BN everywhere so it trains fast from scratch, and BiLSTM(128).
    "small": {
        "layers": (
            conv(32, batch_norm=True),
            POOL_2X2,
            conv(64, batch_norm=True),
            POOL_2X2,
            conv(128, batch_norm=True),
            conv(128, batch_norm=True),
            POOL_2X1,
            conv(192, batch_norm=True),
            conv(192, batch_norm=True),
            POOL_2X1,
            conv(256, batch_norm=True, kernel=2, padding=0),
        ),
        "hidden_size": 128,
    },
    # For tests and smoke runs only (too small to read real text well): a sixteenth of small's cost.
    "tiny": {
        "layers": (
            conv(16, batch_norm=True),
            POOL_2X2,
            conv(32, batch_norm=True),
            POOL_2X2,
            conv(48, batch_norm=True),
            POOL_2X1,
            conv(64, batch_norm=True),
            POOL_2X1,
            conv(64, batch_norm=True, kernel=2, padding=0),
        ),
        "hidden_size": 64,
    },
}


@dataclass(frozen=True)
class ModelConfig(ConfigBase):
    """Everything needed to rebuild the network; stored in the model file."""

    config_kind: ClassVar[str] = "model parameters"

    arch: str
    num_classes: int
    in_channels: int = 1
    height: int = 32
    hidden_size: int = 256
    layers: tuple[Layer, ...] = field(default_factory=tuple)

    @classmethod
    def for_arch(cls, arch: str, num_classes: int, *, in_channels: int = 1, height: int = 32) -> ModelConfig:
        """The named variant from ``ARCHITECTURES`` for this many classes, channels and input height."""
        if arch not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
        spec = ARCHITECTURES[arch]
        return cls(arch, num_classes, in_channels, height, spec["hidden_size"], spec["layers"])

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be at least 2 (blank + one symbol), got {self.num_classes}")
        if self.in_channels not in (1, 3):
            raise ConfigError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if not self.layers:
            raise ConfigError("a model needs at least one CNN layer")
        if self.feature_height < 1:
            raise ConfigError(
                f"input height {self.height} is too small for architecture {self.arch!r}: "
                "the CNN leaves no rows; use a larger height (32 or more)"
            )

    @property
    def feature_height(self) -> int:
        size = self.height
        for layer in self.layers:
            size = layer.out_size(size, 0)
            if size < 1:
                return 0
        return size

    @property
    def feature_channels(self) -> int:
        return [layer.channels for layer in self.layers if layer.kind == "conv"][-1]

    def output_length(self, width: int) -> int:
        """CTC time steps for an input ``width`` pixels wide (0 if too narrow to produce any)."""
        for layer in self.layers:
            width = layer.out_size(width, 1)
            if width < 1:
                return 0
        return width

    def min_input_width(self) -> int:
        """The narrowest input that yields at least one time step."""
        width = 1
        while self.output_length(width) < 1:
            width += 1
        return width

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Layers come back from JSON as objects of lists: ``Layer``s of tuples again."""
        layer_fields = {f.name for f in fields(Layer)}
        layers = []
        for raw in values.get("layers", ()):
            if not isinstance(raw, dict) or set(raw) - layer_fields:
                raise ConfigError(f"malformed layer description: {raw!r}")
            layer: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
            layers.append(Layer(**layer))
        values["layers"] = tuple(layers)
        return super()._convert(values)
