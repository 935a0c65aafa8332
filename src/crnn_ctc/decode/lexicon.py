"""Lexicons: the words a lexicon decoder may answer with, spelled in the model's charset, and an index
that finds the words within an edit distance of a text.

A lexicon word the charset cannot spell is tried lowercased, then with the symbols it still lacks
removed (as the ``lower-alnum`` evaluation protocol does), so the public upper-case lexicons work with
a lower-case model; duplicates after that are merged. The returned text is that spelling.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ..charset import Charset, normalize_text
from ..errors import ConfigError, CrnnError
from .bktree import BKTree, Neighbours

NeighbourIndex = Literal["auto", "bktree", "scan"]
INDEXES: tuple[NeighbourIndex, ...] = ("auto", "bktree", "scan")
# Words compared per rapidfuzz call when scanning: bounds the (queries x words) distance matrix.
_SCAN_CHUNK = 1 << 15
# "auto": the BK-tree only pays off where it prunes most of the lexicon. Measured (benchmarks/decode_speed.py,
# docs/confidence.md): at distance <= 1 it beats the scan (100k words: 0.8 vs 1.0 ms a query in batches of
# 64, 2 vs 8 ms alone); at 2 and 3 it visits a fifth to two fifths of its nodes and the scan is 2 to 15
# times faster.
_BKTREE_MAX_DISTANCE = 1
_BKTREE_MIN_WORDS = 10_000


class LexiconError(CrnnError, ValueError):
    """A lexicon file cannot be read or holds no usable word."""


class _Encoder:
    """Vectorised text -> class indices for one charset (-1 for a symbol it lacks)."""

    def __init__(self, charset: Charset) -> None:
        points = np.array([ord(symbol) for symbol in charset.symbols], dtype=np.int64)
        self._order = np.argsort(points)
        self._points = points[self._order]

    def encode(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Concatenated class indices of ``words`` and their (len + 1,) offsets."""
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum([len(word) for word in words], out=offsets[1:])
        points = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        position = np.minimum(np.searchsorted(self._points, points), len(self._points) - 1)
        known = self._points[position] == points
        return np.where(known, self._order[position] + 1, -1), offsets


def spell(words: Iterable[str], charset: Charset) -> list[str]:
    """``words`` as the charset spells them (see the module docstring), empty and repeated ones dropped."""
    stripped = [word.strip() for word in words]
    stripped = [word if word.isascii() else normalize_text(word) for word in stripped if word]
    if not stripped:
        return []
    codes, offsets = _Encoder(charset).encode(stripped)
    unknown = np.add.reduceat((codes < 0).astype(np.int64), offsets[:-1]) > 0
    spelled = list(stripped)
    for index in np.flatnonzero(unknown).tolist():
        word = spelled[index]
        lower = word.lower()
        if len(charset.unknown_symbols(lower)) <= len(charset.unknown_symbols(word)):
            word = lower
        spelled[index] = "".join(symbol for symbol in word if symbol in charset)
    return list(dict.fromkeys(word for word in spelled if word))


class Lexicon:
    """Words spelled in ``charset``, their class indices, and a neighbour index built on first use.

    ``index`` picks how ``within`` finds neighbours: ``bktree`` (the paper's BK-tree), ``scan`` (rapidfuzz
    comparing the queries with every word, vectorised in C++), or ``auto`` (the faster one for the lexicon
    size and distance, as measured in ``benchmarks/decode_speed.py``). Both give the same answer.
    """

    def __init__(self, words: Iterable[str], charset: Charset, *, index: NeighbourIndex = "auto") -> None:
        if index not in INDEXES:
            raise ConfigError(f"unknown lexicon index {index!r}; known: {', '.join(INDEXES)}")
        self.charset = charset
        self.index = index
        self.words = spell(words, charset)
        codes, self._offsets = _Encoder(charset).encode(self.words)
        self._codes = codes.astype(np.int32)
        lengths = np.diff(self._offsets)
        same_as_previous = np.zeros(len(self._codes), dtype=bool)
        same_as_previous[1:] = self._codes[1:] == self._codes[:-1]
        same_as_previous[self._offsets[:-1]] = False
        # Fewest CTC steps a word needs: a step per symbol plus a blank between equal neighbours.
        self.steps_needed = (
            lengths + np.add.reduceat(same_as_previous, self._offsets[:-1]) if len(self.words) else lengths
        )
        self._tree: BKTree | None = None
        self._usable: dict[bytes, np.ndarray] = {}

    @classmethod
    def read(cls, path: str | Path, charset: Charset, *, index: NeighbourIndex = "auto") -> Lexicon:
        """A UTF-8 text file with one word a line (blank lines skipped)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise LexiconError(f"{path}: cannot read lexicon: {error}") from error
        lexicon = cls(text.splitlines(), charset, index=index)
        if not lexicon.words:
            raise LexiconError(f"{path}: no word of the lexicon can be spelled with the model's charset {charset!r}")
        return lexicon

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"Lexicon({len(self.words):,} words, index={self.index!r})"

    @property
    def tree(self) -> BKTree:
        """The BK-tree over the words, built on first use and kept."""
        if self._tree is None:
            self._tree = BKTree(self.words)
        return self._tree

    def uses_tree(self, max_distance: int) -> bool:
        if self.index != "auto":
            return self.index == "bktree"
        return max_distance <= _BKTREE_MAX_DISTANCE and len(self.words) >= _BKTREE_MIN_WORDS

    def within(self, queries: Sequence[str], max_distance: int) -> list[Neighbours]:
        """For each query, the words at Levenshtein distance <= ``max_distance``: (indices, distances), by index."""
        if max_distance < 0:
            raise ConfigError(f"max edit distance must be at least 0, got {max_distance}")
        if self.uses_tree(max_distance):
            return self.tree.within(queries, max_distance)
        return scan_within(self.words, queries, max_distance)

    def distances(self, query: str) -> np.ndarray:
        """(words,) edit distance of every word to ``query``: for searching a small lexicon in full."""
        return process.cdist([query], self.words, scorer=Levenshtein.distance, dtype=np.int32, workers=1)[0]

    def labels(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class indices of the words at ``indices``, padded with the blank: (M, longest) and (M,) lengths."""
        starts = self._offsets[indices]
        lengths = self._offsets[indices + 1] - starts
        width = int(lengths.max(initial=0))
        position = starts[:, np.newaxis] + np.arange(width)
        inside = np.arange(width) < lengths[:, np.newaxis]
        labels = np.zeros((len(indices), width), dtype=np.int64)
        labels[inside] = self._codes[position[inside]]
        return labels, lengths

    def usable(self, allowed: np.ndarray | None) -> np.ndarray | None:
        """(words,) bool: which words use only allowed classes; ``None`` when all may be used."""
        if allowed is None:
            return None
        key = allowed.tobytes()
        if key not in self._usable:
            bad = (~allowed[self._codes]).astype(np.int64)
            self._usable[key] = (np.add.reduceat(bad, self._offsets[:-1]) == 0) if len(self.words) else bad > 0
        return self._usable[key]


def scan_within(words: Sequence[str], queries: Sequence[str], max_distance: int) -> list[Neighbours]:
    """What ``Lexicon.within`` returns, by comparing every query with every word (rapidfuzz, C++)."""
    found: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in queries]
    if not len(queries):
        return []
    for start in range(0, len(words), _SCAN_CHUNK):
        distances = process.cdist(
            queries, words[start : start + _SCAN_CHUNK], scorer=Levenshtein.distance,
            score_cutoff=max_distance, dtype=np.int32, workers=1,
        )  # fmt: skip
        query, word = np.nonzero(distances <= max_distance)
        bounds = np.searchsorted(query, np.arange(len(queries) + 1))
        for index in range(len(queries)):
            near = word[bounds[index] : bounds[index + 1]]
            found[index].append((near + start, distances[index, near]))
    empty = Neighbours(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return [
        Neighbours(np.concatenate([w for w, _ in parts]), np.concatenate([d for _, d in parts])) if parts else empty
        for parts in found
    ]


class ImageLexicons:
    """Per-image lexicons (the form of the public IIIT5K and SVT small lexicons): image -> its words.

    An image is found by its name as given (``Recognizer.iter_recognize``'s names, the CLI's paths):
    an exact match first, else the entry whose path is the longest trailing part of the name
    (``test/1002_1.png`` matches ``/data/IIIT5K/test/1002_1.png``). Each entry becomes a ``Lexicon``
    on first use.
    """

    def __init__(self, entries: Mapping[str, Iterable[str]], charset: Charset) -> None:
        self.charset = charset
        self._words = {_path_key(name): list(words) for name, words in entries.items()}
        self._by_file_name: dict[str, list[tuple[str, ...]]] = {}
        for key in self._words:
            self._by_file_name.setdefault(key[-1] if key else "", []).append(key)
        self._lexicons: dict[tuple[str, ...], Lexicon] = {}

    @classmethod
    def read(cls, path: str | Path, charset: Charset) -> ImageLexicons:
        """A UTF-8 TSV: ``IMAGE<TAB>word,word,...`` a line (blank lines skipped)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise LexiconError(f"{path}: cannot read per-image lexicons: {error}") from error
        entries: dict[str, list[str]] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            name, tab, words = line.partition("\t")
            if not tab or not name.strip():
                raise LexiconError(f"{path}:{number}: expected 'IMAGE<TAB>word,word,...', found {line[:80]!r}")
            entries[name.strip()] = words.split(",")
        if not entries:
            raise LexiconError(f"{path}: no per-image lexicon in the file")
        return cls(entries, charset)

    def __len__(self) -> int:
        return len(self._words)

    def lookup(self, name: str) -> Lexicon | None:
        """The lexicon of the image called ``name``, or ``None`` when the file has none for it."""
        parts = _path_key(name)
        key: tuple[str, ...] | None = parts if parts in self._words else None
        if key is None:
            suffixes = [k for k in self._by_file_name.get(parts[-1] if parts else "", []) if parts[-len(k) :] == k]
            key = max(suffixes, key=len, default=None)
        if key is None:
            return None
        if key not in self._lexicons:
            self._lexicons[key] = Lexicon(self._words[key], self.charset, index="scan")
        return self._lexicons[key]


def _path_key(name: str) -> tuple[str, ...]:
    return PurePath(os.path.normpath(name.replace("\\", "/"))).parts
