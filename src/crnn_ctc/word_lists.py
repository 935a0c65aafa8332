"""Word list files, as ``crnn synth --words`` and the decoder's ``--word-prior`` read them: one word a line,
optionally followed by a TAB or space and its count (default 1); blank lines and ``#`` comments skipped."""

from __future__ import annotations

import math
from pathlib import Path

from .errors import DatasetError


class WordListError(DatasetError, ValueError):
    """A word list cannot be read or holds no usable word (names the file and line)."""


def read_word_counts(path: str | Path) -> list[tuple[str, float]]:
    """The (word, count) pairs of a word list file, in file order (a word may repeat)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise WordListError(f"{path}: cannot read word list: {error}") from error
    pairs: list[tuple[str, float]] = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) > 2:
            raise WordListError(f"{path}:{number}: expected a word, optionally followed by a count, found {line!r}")
        try:
            count = float(parts[1]) if len(parts) == 2 else 1.0
        except ValueError:
            raise WordListError(f"{path}:{number}: the count {parts[1]!r} after {parts[0]!r} is not a number") from None
        if count <= 0 or not math.isfinite(count):
            raise WordListError(f"{path}:{number}: the count after {parts[0]!r} must be positive, got {parts[1]!r}")
        pairs.append((parts[0], count))
    return pairs
