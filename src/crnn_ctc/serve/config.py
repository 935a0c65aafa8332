"""``ServeConfig``: everything ``crnn serve`` is told, as one dataclass (flags, or JSON for worker processes)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import ClassVar

from ..config_base import ConfigBase
from ..errors import ConfigError

# A cropped word or line is tiny; a service decoding untrusted uploads needs a lower ceiling than the
# library's 50 MP: every decoding thread may hold one such image (3 bytes a pixel) at once.
DEFAULT_SERVE_MAX_PIXELS = 16_000_000
# A whole page (POST /v1/read): an A4 scan at 600 dpi is 34.8 million pixels. Pages are read one at a time.
DEFAULT_SERVE_MAX_PAGE_PIXELS = 40_000_000


@dataclass(frozen=True)
class ServeConfig(ConfigBase):
    """How ``crnn serve`` runs: the model and engine, where it listens, and the limits on what it accepts."""

    config_kind: ClassVar[str] = "serve settings"

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
    max_lexicon_words: int = 100_000  # words of a request's own lexicon (indexing them is the request's work)
    max_lexicon_mb: float = 2.0  # the same lexicon's size, its words one a line
    max_edit_distance: int = 5  # a request's max_edit_distance (the search grows steeply with it)
    request_timeout_s: float = 30.0  # a request's work, from its body read to its answer; past it 503
    client_timeout_s: float = 60.0  # a request's headers, and then its body, must each arrive within this
    max_page_pixels: int = DEFAULT_SERVE_MAX_PAGE_PIXELS  # per page of POST /v1/read, checked before decoding
    max_pages: int = 20  # pages in one POST /v1/read document (a PDF or a multi-page TIFF)
    page_dpi: int = 200  # the resolution PDF pages are rendered at
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
            "max_lexicon_words": self.max_lexicon_words,
            "max_lexicon_mb": self.max_lexicon_mb,
            "request_timeout_s": self.request_timeout_s,
            "client_timeout_s": self.client_timeout_s,
            "max_page_pixels": self.max_page_pixels,
            "max_pages": self.max_pages,
            "page_dpi": self.page_dpi,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.max_edit_distance < 0:
            raise ConfigError(f"--max-edit-distance must be 0 or more, got {self.max_edit_distance}")
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

    @property
    def max_lexicon_bytes(self) -> int:
        return int(self.max_lexicon_mb * 1024 * 1024)

    def limits(self) -> dict[str, float | int]:
        """What ``GET /v1/model`` reports: every limit a client can run into."""
        names = (
            "max_body_mb", "max_images", "max_batch", "batch_wait_ms", "max_pixels", "max_queue", "max_lexicon_words",
            "max_lexicon_mb", "max_edit_distance", "request_timeout_s", "client_timeout_s", "max_page_pixels",
            "max_pages", "page_dpi",
        )  # fmt: skip
        return {name: getattr(self, name) for name in names}

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls.from_dict(json.loads(text))
