"""A word prior for the beam search: how likely each space-separated token of a text is as a word, so
that of the readings an image allows, real words win (``the`` over ``tbe``, ``a`` over ``2``, ``the
quick`` over ``thequick``).

A token is split into opening punctuation, a core and closing punctuation (``"(Hello,"`` is ``"(``,
``Hello``, ``,``; ``hyph-`` at the end of a line is ``hyph`` and ``-``). A core of letters (with inner
apostrophes or hyphens) scores its lowercased word's frequency in English (wordfreq) or in the user's
word list, whatever its case, as long as the case is one a word is written in (``word``, ``Word``,
``WORD``, ``OpenType``, ``Build-Depends``). A word the list lacks, a number, a code and punctuation
each have a probability per kind, lowered for every symbol they spell (so that gluing two tokens into
one never pays). Each token adds ``weight * ln P + bonus`` to a reading's log-probability (shallow
fusion; the bonus keeps the prior from favouring fewer words).

Why not pyctcdecode: any language model there needs KenLM (a C++ build on the user's machine), matches
words case-sensitively, and decodes one sample at a time in Python; this prior plugs into our batched
beam search (``beam.py``) and needs only wordfreq's word list.

wordfreq's list, filtered, sorted and turned into log-probabilities, is cached in
``~/.cache/crnn-ctc/word-prior-v1/`` (an ``.npz`` of a string and a float array, read without pickle):
building it takes about a second, reading it a tenth of that, and the default decoder loads it the
first time a reading is unsure.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..files import atomic_file, cache_dir
from ..word_lists import WordListError, read_word_counts

OPENING = "\"'([{<`"
# A hyphen closes a token too: a word broken at the end of a printed line ("hyphen-") scores as its part.
CLOSING = "\"'.,;:!?)]}>`-"
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_NUMBER = re.compile(r"[\d.,:/+\-%$]+")
WORDFREQ = "wordfreq"
_TABLE_VERSION = 1  # bump when WordTable.from_frequencies changes: older cached tables are then ignored


@dataclass(frozen=True)
class WordPriorSettings:
    """How much the prior counts, and how it scores tokens that are no listed word.

    ``weight`` scales a token's natural-log probability and ``bonus`` is added per token (so that the prior
    does not favour fewer, longer tokens). A token that is no listed word has the probability of its kind
    times ``per_symbol`` for each symbol of its core: ``unknown`` for a word the list lacks, ``number`` for
    digits (with ``.,:/+-%$``), ``other`` for any other mix (codes such as ``A4`` or ``642MB``), ``symbol``
    for a token of punctuation alone. ``mixed_case`` multiplies a word's probability when its case is none
    of word / Word / WORD / CamelCase (in each part of a compound). Chosen on held-out data by
    ``benchmarks/word_prior.py``."""

    weight: float = 0.4
    bonus: float = 2.0
    unknown: float = 1e-4
    number: float = 1e-2
    other: float = 1e-4
    symbol: float = 1e-3
    per_symbol: float = 0.2
    mixed_case: float = 1e-3

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ConfigError(f"the word prior's weight must be 0 or more, got {self.weight}")
        for name in ("unknown", "number", "other", "symbol", "per_symbol", "mixed_case"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ConfigError(f"the word prior's {name} probability must lie in (0, 1], got {value}")


@dataclass(frozen=True)
class WordTable:
    """A word list as the prior reads it: lowercased words in sorted order and their ln P."""

    words: list[str]
    log_probs: np.ndarray

    @classmethod
    def from_frequencies(cls, frequencies: Mapping[str, float]) -> WordTable:
        words: dict[str, float] = {}
        for word, count in frequencies.items():
            if count > 0 and _WORD.fullmatch(word):
                words[word.lower()] = words.get(word.lower(), 0.0) + count
        if not words:
            raise WordListError("the word list holds no word (letters, with inner apostrophes or hyphens)")
        total = sum(words.values())
        ordered = sorted(words)
        return cls(ordered, np.log(np.array([words[word] / total for word in ordered])))

    def save(self, path: Path) -> None:
        with atomic_file(path) as file:
            utf8 = np.frombuffer("\n".join(self.words).encode("utf-8"), dtype=np.uint8)
            np.savez(file, words=utf8, log_probs=self.log_probs)

    @classmethod
    def load(cls, path: Path) -> WordTable:
        with np.load(path, allow_pickle=False) as data:
            words = data["words"].tobytes().decode("utf-8").split("\n")
            log_probs = np.asarray(data["log_probs"], dtype=np.float64)
        if len(words) != len(log_probs) or not len(words):
            raise ValueError(f"{path}: {len(words)} words and {len(log_probs)} log-probabilities")
        return cls(words, log_probs)


class WordPrior:
    """Token scores from word frequencies (words to relative frequencies, lowercased and normalised here)."""

    def __init__(self, frequencies: Mapping[str, float] | WordTable, settings: WordPriorSettings | None = None) -> None:
        self.settings = settings or WordPriorSettings()
        table = frequencies if isinstance(frequencies, WordTable) else WordTable.from_frequencies(frequencies)
        self._sorted = table.words
        log_probs = table.log_probs
        self._log_prob = dict(zip(self._sorted, log_probs.tolist(), strict=True))
        self._range_max = _RangeMax(log_probs)
        weight, per_symbol = self.settings.weight, math.log(self.settings.per_symbol)
        self._per_symbol = weight * per_symbol
        self._class = {
            name: weight * math.log(getattr(self.settings, name)) for name in ("unknown", "number", "other", "symbol")
        }
        self._mixed_case = weight * math.log(self.settings.mixed_case)
        self.token_score = lru_cache(maxsize=1 << 17)(self._token_score)
        self.partial_score = lru_cache(maxsize=1 << 17)(self._partial_score)

    @classmethod
    def from_wordfreq(cls, settings: WordPriorSettings | None = None, vocabulary_size: int = 250_000) -> WordPrior:
        """English: wordfreq's ``large`` list, its ``vocabulary_size`` most frequent words (cached)."""
        return cls(wordfreq_table(vocabulary_size), settings)

    @classmethod
    def read(cls, path: str | Path, settings: WordPriorSettings | None = None) -> WordPrior:
        """A word list file (``word_lists.read_word_counts``: a word and optional count a line)."""
        counts: dict[str, float] = {}
        for word, count in read_word_counts(path):
            counts[word] = counts.get(word, 0.0) + count
        try:
            return cls(counts, settings)
        except WordListError as error:
            raise WordListError(f"{path}: {error}") from None

    def __len__(self) -> int:
        return len(self._sorted)

    def log_prob(self, word: str) -> float | None:
        """ln P of a listed word (any case), None when the list lacks it."""
        return self._log_prob.get(word.lower())

    def text_score(self, text: str) -> float:
        """The prior's score of a whole text: the sum of its tokens' scores, the tokens being what splitting at
        each space gives (a leading, trailing or second space makes an empty token)."""
        return sum(self.token_score(token) for token in text.split(" ")) if text else 0.0

    def extensions(self, symbols: Sequence[str]) -> ExtensionScores:
        """The score changes of extending a text by each of ``symbols`` (a charset's, in class order)."""
        return ExtensionScores(self, symbols)

    def _token_score(self, token: str) -> float:
        """``weight * ln P(token) + bonus`` of a complete token; an empty one (a space too many) costs as a
        symbol, without the bonus."""
        if not token:
            return self._class["symbol"]
        core = _core(token)
        kind = _kind(core)
        if kind == "word":
            log_prob = self._listed(core.lower())
            score = self.settings.weight * log_prob if log_prob is not None else self._spelled("unknown", core)
            score = max(score, self._spelled("unknown", core))  # a rare listed word is no less likely than unlisted
            return score + self._case(core) + self.settings.bonus
        return self._spelled(kind, core) + self.settings.bonus

    def _partial_score(self, token: str) -> float:
        """An optimistic score of a token still being read: the best of what it can still become. A word-like
        core: the best listed word it begins, or the unknown word it already is; a number: a number; a core
        of punctuation: itself, a number (``$``, ``-``), or any word when it is opening punctuation alone;
        and anything can become some other token (a letter or digit more). No bonus: that comes with the
        finished token."""
        core = _core(token)
        kind = _kind(core.rstrip("'-"))
        scores = [self._spelled("other", core)]
        if kind == "word":
            scores.append(self._word_partial(core) + self._case(core))
        elif kind == "number" or (kind == "symbol" and _NUMBER.fullmatch(core or "0")):
            scores.append(self._spelled("number", core))
        if kind == "symbol":
            scores.append(self._spelled("symbol", core))
            if not core:
                scores.append(self.settings.weight * self._range_max(0, len(self._sorted)))
        return max(scores)

    def _word_partial(self, core: str) -> float:
        spelled = self._spelled("unknown", core)
        lower = core.lower()
        if "-" in lower:  # the part being read of a compound, after the listed parts before it
            *parts, lower = lower.split("-")
            before = [self._log_prob.get(part) for part in parts]
            if any(log_prob is None for log_prob in before):
                return spelled
            listed = sum(log_prob for log_prob in before if log_prob is not None)
        else:
            listed = 0.0
        best = self._best_beginning(lower)
        return spelled if best is None else max(spelled, self.settings.weight * (listed + best))

    def _listed(self, lower: str) -> float | None:
        """ln P of a listed word, or of a compound whose parts are all listed."""
        log_prob = self._log_prob.get(lower)
        if log_prob is None and "-" in lower:
            parts = [self._log_prob.get(part) for part in lower.split("-")]
            if all(part is not None for part in parts):
                log_prob = sum(part for part in parts if part is not None)
        return log_prob

    def _best_beginning(self, prefix: str) -> float | None:
        """The highest ln P of the listed words that begin with ``prefix``; None when none does."""
        low = bisect.bisect_left(self._sorted, prefix)
        high = bisect.bisect_left(self._sorted, prefix + "\U0010ffff")
        return self._range_max(low, high) if high > low else None

    def _spelled(self, kind: str, core: str) -> float:
        return self._class[kind] + len(core) * self._per_symbol

    def _case(self, core: str) -> float:
        return 0.0 if _usual_case(core) else self._mixed_case


class _RangeMax:
    """Maximum of ``values[low:high]`` in constant time (a sparse table: the max of each power-of-two run)."""

    def __init__(self, values: np.ndarray) -> None:
        levels = [values.astype(np.float64)]
        width = 1
        while 2 * width <= len(values):
            previous = levels[-1]
            levels.append(np.maximum(previous[:-width], previous[width:]))
            width *= 2
        self._levels = levels

    def __call__(self, low: int, high: int) -> float:
        level = (high - low).bit_length() - 1
        values = self._levels[level]
        return float(max(values[low], values[high - (1 << level)]))


class ExtensionScores:
    """The change of the prior's score when the beam extends a partial token by one symbol of the charset
    (given as its index among the symbols; a space finishes the token), cached."""

    def __init__(self, prior: WordPrior, symbols: Sequence[str]) -> None:
        self.prior = prior
        self.symbols = list(symbols)
        self.delta = lru_cache(maxsize=1 << 18)(self._delta)

    def _delta(self, token: str, symbol: int) -> float:
        text = self.symbols[symbol]
        if text in CLOSING:  # closing punctuation leaves the core, and so the score, as it is
            return 0.0
        after = self.prior.token_score(token) if text == " " else self.prior.partial_score(token + text)
        return after - self.prior.partial_score(token)


def wordfreq_table(vocabulary_size: int = 250_000) -> WordTable:
    """wordfreq's list as a ``WordTable``, from the cache when it holds this wordfreq version's, else built
    and cached (a cache that cannot be read or written is only slower)."""
    from importlib.metadata import version

    path = cache_dir(f"word-prior-v{_TABLE_VERSION}") / f"wordfreq-{version('wordfreq')}-en-{vocabulary_size}.npz"
    with contextlib.suppress(OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return WordTable.load(path)  # else not cached yet, or unreadable: built again below
    table = WordTable.from_frequencies(wordfreq_frequencies(vocabulary_size))
    with contextlib.suppress(OSError):
        table.save(path)
    return table


def wordfreq_frequencies(vocabulary_size: int = 250_000) -> dict[str, float]:
    """wordfreq's ``large`` English list: its ``vocabulary_size`` most frequent tokens and their frequencies."""
    import wordfreq  # a core dependency, imported only here: it takes a while to load

    frequencies = wordfreq.get_frequency_dict("en", wordlist="large")
    return {word: frequencies[word] for word in wordfreq.top_n_list("en", vocabulary_size, wordlist="large")}


def _kind(core: str) -> str:
    """word (letters, inner apostrophes or hyphens), number (digits and ``.,:/+-%$``), symbol (no letter
    or digit), or other."""
    if not any(symbol.isalnum() for symbol in core):
        return "symbol"
    if _WORD.fullmatch(core):
        return "word"
    if _NUMBER.fullmatch(core) and any(symbol.isdigit() for symbol in core):
        return "number"
    return "other"


def _core(token: str) -> str:
    """The token without its opening and closing punctuation."""
    return token.lstrip(OPENING).rstrip(CLOSING)


def _usual_case(core: str) -> bool:
    """Each part (between hyphens and apostrophes) written word, Word, WORD or in capitalised runs
    (OpenType, PostScript): a case a word is written in, not a random mix (tHe, THe, heLlo)."""
    return all(_usual_part(part) for part in re.split(r"['-]", core))


def _usual_part(part: str) -> bool:
    if part.islower() or part.isupper() or not part:
        return True
    if not part[0].isupper():
        return False
    return not any(first.isupper() and second.isupper() for first, second in itertools.pairwise(part))


def load_word_prior(source: str | Path, settings: WordPriorSettings | None = None) -> WordPrior:
    """``wordfreq`` (English word frequencies) or a word list file."""
    if str(source) == WORDFREQ:
        return WordPrior.from_wordfreq(settings)
    return WordPrior.read(source, settings)
