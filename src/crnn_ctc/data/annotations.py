"""Annotation files: which image holds which label.

Three formats, detected or named:
- ``seed``: ``relative/path.jpg label``, split at the first space (the seed's format);
- ``tsv``: ``path<TAB>label``, labels may hold spaces (the field's LMDB tools);
- ``synth90k``: paths only (an optional number after them is ignored), the label is the middle of
  the file name: ``373_coley_14845.jpg`` -> ``coley``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DatasetError

ANNOTATION_FORMATS = ("auto", "seed", "tsv", "synth90k")
_SYNTH90K_NAME = re.compile(r"^\d+_.+_\d+\.[A-Za-z]+$")


@dataclass(frozen=True)
class Annotation:
    """One parsed line: the image path as written, its label, and the line it came from."""

    path: str
    label: str
    line: int


@dataclass(frozen=True)
class BadLine:
    """A line that could not be parsed, and why."""

    line: int
    text: str
    reason: str


def label_from_synth90k_name(name: str) -> str:
    """``373_coley_14845.jpg`` -> ``coley``: what lies between the first and the last underscore."""
    stem = PurePosixPath(name.replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    first, last = stem.find("_"), stem.rfind("_")
    if first < 0 or last <= first + 1:
        raise DatasetError(f"{name!r} is not a Synth90k file name (expected NUMBER_label_NUMBER.jpg)")
    return stem[first + 1 : last]


def detect_format(lines: list[str]) -> str:
    """Guess the format from the first non-empty lines: TABs mean tsv, bare Synth90k names synth90k."""
    sample = [line for line in lines if line.strip()][:200]
    if not sample:
        return "seed"
    if any("\t" in line for line in sample):
        return "tsv"
    first_fields = [line.split(" ", 1) for line in sample]
    if all(
        _SYNTH90K_NAME.match(PurePosixPath(fields[0]).name) and (len(fields) == 1 or fields[1].strip().isdigit())
        for fields in first_fields
    ):
        return "synth90k"
    return "seed"


def parse_line(line: str, fmt: str) -> tuple[str, str]:
    """(path, label) of one non-empty line; ``ValueError`` with the reason if it does not parse."""
    if fmt == "tsv":
        if "\t" not in line:
            raise ValueError("no TAB between path and label")
        path, label = line.split("\t", 1)
    elif fmt == "seed":
        stripped = line.strip()
        if " " not in stripped:
            raise ValueError("no space between path and label")
        path, label = stripped.split(" ", 1)
        label = label.strip()
    elif fmt == "synth90k":
        path = line.strip().split(" ", 1)[0]
        try:
            label = label_from_synth90k_name(path)
        except DatasetError as error:
            raise ValueError(str(error)) from None
    else:
        raise ValueError(f"unknown annotation format {fmt!r}")
    if not path:
        raise ValueError("empty image path")
    return path, label


def read_annotations(path: str | Path, fmt: str = "auto") -> tuple[list[Annotation], list[BadLine], str]:
    """Parse an annotation file; return the good lines, the bad ones (with reasons) and the format used."""
    path = Path(path)
    if fmt not in ANNOTATION_FORMATS:
        raise DatasetError(f"unknown annotation format {fmt!r}; use one of {', '.join(ANNOTATION_FORMATS)}")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DatasetError(f"{path}: cannot read the annotation file: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_number = raw[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path}:{line_number}: not UTF-8 text ({error.reason}); convert the file to UTF-8"
        ) from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if fmt == "auto":
        fmt = detect_format(lines)
    good: list[Annotation] = []
    bad: list[BadLine] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            image, label = parse_line(line, fmt)
        except ValueError as error:
            bad.append(BadLine(number, line, str(error)))
            continue
        good.append(Annotation(image, label, number))
    return good, bad, fmt
