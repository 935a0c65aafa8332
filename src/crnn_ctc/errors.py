"""Typed errors: each says which file or input, what was expected, and what to do."""

from __future__ import annotations


class CrnnError(Exception):
    """Base class of every error this package raises on purpose."""


class CharsetError(CrnnError, ValueError):
    """A label holds a symbol the charset lacks, or a charset definition is malformed."""


class ImageError(CrnnError, ValueError):
    """An input image cannot be decoded or used (missing, empty, corrupt, too large...)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class PageError(ImageError):
    """A page of a document cannot be read: the file (missing, unsupported, corrupt, encrypted), its page
    count over the limit, or one page (too many pixels). Names the file, and the page when it is one page."""

    def __init__(self, source: str, reason: str, page_number: int | None = None) -> None:
        super().__init__(source if page_number is None else f"{source} page {page_number}", reason)
        self.source = source
        self.page_number = page_number


class ModelFileError(CrnnError):
    """A model file is missing, damaged, of an unknown format or of a newer version."""


class ConfigError(CrnnError, ValueError):
    """A configuration value is out of range or inconsistent."""


class DatasetError(CrnnError):
    """A dataset, annotation file or record file cannot be read or written (names the file and line)."""


class SampleError(DatasetError):
    """One sample of a dataset cannot be read (a folder dataset's image file is missing or unreadable),
    while the others can: evaluation counts it as wrong and training leaves it out."""

    def __init__(self, source: str, reason: str, label: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
        self.label = label


class OutputError(CrnnError):
    """An output cannot be written where asked (a folder, an unwritable place, or one of the inputs)."""
