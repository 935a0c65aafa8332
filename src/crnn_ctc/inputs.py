"""Finding the images a command should read: files, folders, and the seed's image lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import CrnnError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm", ".pnm"}
)


class InputListError(CrnnError):
    """An input list or folder cannot be used (missing, unreadable, malformed line)."""


@dataclass(frozen=True)
class ImageRef:
    """An image to read and the name to report it under."""

    path: Path
    name: str


def images_in_folder(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (by suffix), sorted by path."""
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image_list(list_file: Path, image_dir: Path | None) -> list[ImageRef]:
    """One image per line, as in the seed's lists: ``relative/path.jpg [label]`` (a label is ignored).

    Paths are relative to ``image_dir``, else to the list's own folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputListError(f"{list_file}: cannot read image list: {error}") from error
    base = image_dir if image_dir is not None else list_file.parent
    refs = []
    for line in lines:
        entry = line.strip()
        if not entry:
            continue
        # A TAB-separated line may hold spaces in its path; otherwise the first space ends it.
        name = entry.split("\t", 1)[0] if "\t" in entry else entry.split(" ", 1)[0]
        refs.append(ImageRef(base / name, name))
    return refs


def collect_images(
    paths: Sequence[str | Path] = (),
    *,
    image_dir: str | Path | None = None,
    image_list: str | Path | None = None,
    recursive: bool = False,
) -> list[ImageRef]:
    """Files are taken as given (a non-image is reported when read); folders give their image files.
    An image that the paths reach twice (named twice, or named and inside a folder also named) is read
    once, where it first came; an ``image_list`` is taken line by line, as the seed did."""
    refs: list[ImageRef] = []
    folder = Path(image_dir) if image_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise InputListError(f"{folder}: no such image directory")
    if image_list is not None:
        refs.extend(read_image_list(Path(image_list), folder))
    elif folder is not None:
        refs.extend(ImageRef(p, str(p)) for p in images_in_folder(folder, recursive))
    seen = {ref.path for ref in refs}
    for raw in paths:
        path = Path(raw)
        found = (
            [ImageRef(p, str(p)) for p in images_in_folder(path, recursive)]
            if path.is_dir()
            else [ImageRef(path, str(raw))]
        )
        for ref in found:
            if ref.path not in seen:
                seen.add(ref.path)
                refs.append(ref)
    return refs
