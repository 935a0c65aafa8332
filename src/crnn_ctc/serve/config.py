"""``ServeConfig``: everything ``crnn serve`` is told, as one dataclass (flags, or JSON for worker processes)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError

# A cropped word or line is tiny; a service decoding untrusted uploads needs a lower ceiling than the
# library's 50 MP: every decoding thread may hold one such image (3 bytes a pixel) at once.
DEFAULT_SERVE_MAX_PIXELS = 16_000_000


@dataclass(frozen=True)
class ServeConfig:
    """How ``crnn serve`` runs: the model and engine, where it listens, and the limits on what it accepts."""

    model: str | None = None
    model_dir: str | None = None
    backend: str = "auto"
    device: str = "auto"
    threads: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_mb: float = 10.0  # one request body, enforced while it is read
    max_images: int = 64  # images in one request
    max_batch: int = 32  # images in one forward pass
    batch_wait_ms: float = 2.0  # how long an idle batcher waits for more images after the first
    max_pixels: int = DEFAULT_SERVE_MAX_PIXELS  # per image, checked before decoding (decompression bombs)
    max_queue: int = 1024  # images waiting for a forward pass; past it requests get 503
    log_level: str = "info"
    access_log: bool = False

    def __post_init__(self) -> None:
        positive = {
            "workers": self.workers,
            "max_body_mb": self.max_body_mb,
            "max_images": self.max_images,
            "max_batch": self.max_batch,
            "max_pixels": self.max_pixels,
            "max_queue": self.max_queue,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.batch_wait_ms < 0:
            raise ConfigError(f"--batch-wait-ms must be 0 or more, got {self.batch_wait_ms}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must lie in 0..65535, got {self.port}")
        if self.max_queue < self.max_images:
            raise ConfigError(
                f"--max-queue ({self.max_queue}) is below --max-images ({self.max_images}): "
                "a full request could never be queued"
            )

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        values: dict[str, Any] = json.loads(text)
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown serve settings: {', '.join(unknown)}")
        return cls(**values)
