"""The ordered symbols a model can emit, plus the CTC blank, and label <-> index conversion.

Index 0 is always the CTC blank (PyTorch's ``CTCLoss`` default); symbol ``i`` of the charset is
class ``i + 1``. The seed's ``char_map.json`` numbers symbols from 0 with the blank last (as
TensorFlow's CTC does); import and export translate between the two numberings.
"""

from __future__ import annotations

import itertools
import json
import string
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from .errors import CharsetError

BLANK = 0

_LOWER = string.ascii_lowercase
_UPPER = string.ascii_uppercase
_DIGITS = string.digits
# string.punctuation is the 32 printable ASCII symbols that are neither letters nor digits.
_PRINTABLE = _DIGITS + _LOWER + _UPPER + string.punctuation

PRESETS: dict[str, str] = {
    # Same order as the seed's char_map.json: a..z then 0..9.
    "lower-alnum": _LOWER + _DIGITS,
    "alnum": _DIGITS + _LOWER + _UPPER,
    "printable": _PRINTABLE,
    "printable+space": _PRINTABLE + " ",
}


def required_steps(indices: Sequence[int]) -> int:
    """CTC time steps a label needs: one per symbol, plus a blank between each pair of equal neighbours."""
    return len(indices) + sum(1 for a, b in itertools.pairwise(indices) if a == b)


def normalize_text(text: str) -> str:
    """NFC-normalise, so a composed and a decomposed accent are the same symbol."""
    return unicodedata.normalize("NFC", text)


class Charset:
    """An immutable ordered set of single-character symbols; class 0 is the CTC blank."""

    __slots__ = ("_index", "symbols")

    def __init__(self, symbols: Iterable[str]) -> None:
        ordered: list[str] = []
        index: dict[str, int] = {}
        for position, raw in enumerate(symbols):
            symbol = normalize_text(raw)
            if len(symbol) != 1:
                raise CharsetError(
                    f"charset symbol #{position + 1} {raw!r} is {len(symbol)} characters long; "
                    "every symbol must be exactly one character"
                )
            if symbol in index:
                raise CharsetError(f"charset symbol {symbol!r} appears twice (#{index[symbol]} and #{position + 1})")
            index[symbol] = len(ordered) + 1
            ordered.append(symbol)
        if not ordered:
            raise CharsetError("a charset needs at least one symbol")
        self.symbols: tuple[str, ...] = tuple(ordered)
        self._index = index

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_string(cls, symbols: str) -> Charset:
        """One symbol per character of ``symbols``, in order."""
        return cls(list(symbols))

    @classmethod
    def preset(cls, name: str) -> Charset:
        """A named charset: ``lower-alnum`` (36), ``alnum`` (62), ``printable`` (94), ``printable+space`` (95)."""
        try:
            return cls.from_string(PRESETS[name])
        except KeyError:
            raise CharsetError(f"unknown charset preset {name!r}; known: {', '.join(PRESETS)}") from None

    @classmethod
    def from_text_file(cls, path: str | Path) -> Charset:
        """One symbol per line (UTF-8). A line holding a single space is the space symbol; empty lines are skipped."""
        path = Path(path)
        try:
            content = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CharsetError(f"{path}: cannot read charset file: {error}") from error
        symbols: list[str] = []
        for line_number, line in enumerate(content.split("\n"), start=1):
            line = line.rstrip("\r")
            if line == "":
                continue
            if len(normalize_text(line)) != 1:
                raise CharsetError(f"{path}:{line_number}: expected one symbol per line, found {line!r}")
            symbols.append(line)
        try:
            return cls(symbols)
        except CharsetError as error:
            raise CharsetError(f"{path}: {error}") from error

    @classmethod
    def from_char_map(cls, path: str | Path) -> Charset:
        """The seed's ``char_map.json``: ``{"a": 0, ..., "9": 35}``; symbols are ordered by their number."""
        path = Path(path)
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CharsetError(f"{path}: cannot read char_map JSON: {error}") from error
        if not isinstance(mapping, dict) or not mapping:
            raise CharsetError(f"{path}: expected a non-empty JSON object mapping symbol to number")
        numbers = sorted(mapping.values()) if all(isinstance(v, int) for v in mapping.values()) else None
        if numbers != list(range(len(mapping))):
            raise CharsetError(
                f"{path}: the numbers of a char_map must be the integers 0..{len(mapping) - 1}, each once"
            )
        try:
            return cls(sorted(mapping, key=mapping.__getitem__))
        except CharsetError as error:
            raise CharsetError(f"{path}: {error}") from error

    @classmethod
    def resolve(cls, spec: str | Path | Charset) -> Charset:
        """A preset name, a ``.json`` char_map, or a text file with one symbol per line."""
        if isinstance(spec, Charset):
            return spec
        text = str(spec)
        if text in PRESETS:
            return cls.preset(text)
        path = Path(text)
        if path.is_file():
            return cls.from_char_map(path) if path.suffix.lower() == ".json" else cls.from_text_file(path)
        raise CharsetError(f"charset {text!r} is neither a preset ({', '.join(PRESETS)}) nor an existing file")

    # -- export -------------------------------------------------------------------------------
    def to_char_map(self) -> dict[str, int]:
        """The seed's numbering: symbols from 0, blank implicit (last)."""
        return {symbol: number for number, symbol in enumerate(self.symbols)}

    def write_char_map(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_char_map(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    # -- conversion ---------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Symbols plus the blank: the width of the model's output layer."""
        return len(self.symbols) + 1

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Charset) and other.symbols == self.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        preview = "".join(self.symbols[:12]) + ("..." if len(self.symbols) > 12 else "")
        return f"Charset({len(self.symbols)} symbols: {preview!r})"

    def encode(self, label: str) -> list[int]:
        """Class indices of ``label`` (never the blank). Raises ``CharsetError`` naming the first unknown symbol."""
        label = normalize_text(label)
        try:
            return [self._index[symbol] for symbol in label]
        except KeyError as error:
            symbol = error.args[0]
            raise CharsetError(
                f"label {label!r} holds {symbol!r} (U+{ord(symbol):04X}), which is not in the charset {self!r}"
            ) from None

    def unknown_symbols(self, label: str) -> list[str]:
        """The distinct symbols of ``label`` that the charset lacks, in order of appearance."""
        seen: list[str] = []
        for symbol in normalize_text(label):
            if symbol not in self._index and symbol not in seen:
                seen.append(symbol)
        return seen

    def decode(self, indices: Sequence[int]) -> str:
        """Text of already-collapsed class indices; blanks are skipped."""
        symbols = self.symbols
        return "".join(symbols[i - 1] for i in indices if i != BLANK)
