"""What the synthetic images say: frequent English words in the cases real text uses, plus random
letters, numbers, prices, dates, codes and punctuation, so a model learns to read rather than to
recall a dictionary.

Words come from ``wordfreq`` (English, with frequencies) or from ``--words FILE`` (one word per line,
optionally followed by a count). Every string is drawn from the characters one font may render, so
the text never asks a font for a glyph it lacks.
"""

from __future__ import annotations

import bisect
import itertools
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from ..word_lists import WordListError, read_word_counts
from .config import SynthConfig

_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December",
)  # fmt: skip
_UNITS = ("kg", "km", "cm", "mm", "ml", "g", "m", "h", "min", "mph", "GB", "MB", "W", "V")
_CURRENCIES = "$$$$€££¥"
_TLDS = ("com", "org", "net", "io", "de", "co.uk", "edu", "gov")
_EXTENSIONS = ("py", "txt", "c", "h", "so", "conf", "json", "html", "pdf", "tar.gz", "deb", "sh", "md")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "cf.", "vs.", "Fig.", "Eq.", "No.", "p.", "pp.", "Dr.", "Mr.", "St.")


@dataclass(frozen=True)
class WordList:
    """Words with cumulative sampling weights (frequency ** power)."""

    words: tuple[str, ...]
    cumulative: tuple[float, ...]

    def sample(self, rng: random.Random) -> str:
        position = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.words[min(position, len(self.words) - 1)]

    @classmethod
    def weighted(cls, words: Sequence[str], frequencies: Sequence[float], power: float) -> WordList:
        if not words:
            raise DatasetError("the word list is empty")
        weights = [max(frequency, 1e-12) ** power for frequency in frequencies]
        return cls(tuple(words), tuple(itertools.accumulate(weights)))


def load_words(path: str | Path | None, vocabulary_size: int, power: float) -> WordList:
    """``path`` (one word per line, optional count after a TAB or space), else wordfreq's English list."""
    if path is not None:
        return _read_word_file(Path(path), vocabulary_size, power)
    import wordfreq  # a core dependency; imported here, as loading it takes a while

    frequencies = wordfreq.get_frequency_dict("en", wordlist="large")
    words = [word for word in wordfreq.top_n_list("en", vocabulary_size * 2, wordlist="large") if _is_word(word)]
    words = words[:vocabulary_size]
    return WordList.weighted(words, [frequencies.get(word, 1e-9) for word in words], power)


def _is_word(token: str) -> bool:
    """Letters, with at most inner apostrophes or hyphens (wordfreq also lists "n't", numbers...)."""
    core = token.replace("'", "").replace("-", "")
    return core.isascii() and core.isalpha() and token[0].isalpha() and token[-1].isalpha()


def _read_word_file(path: Path, vocabulary_size: int, power: float) -> WordList:
    pairs = read_word_counts(path)[:vocabulary_size]
    if not pairs:
        raise WordListError(f"{path}: no words in the word list")
    return WordList.weighted([word for word, _ in pairs], [count for _, count in pairs], power)


def _breakable(token: str) -> bool:
    """A plain word long enough to break at a line's end with two letters or more on each side."""
    return len(token) >= 5 and token.isascii() and token.isalpha()


def _case(word: str, case: str) -> str:
    return word.upper() if case == "upper" else word.title() if case == "title" else word.lower()


class TextSource:
    """Draws one string per call from a mix of kinds (``SynthConfig.text_mix``)."""

    def __init__(self, config: SynthConfig, words: WordList) -> None:
        self.config = config
        self.words = words
        self._kinds = [kind for kind, weight in config.text_mix.items() if weight > 0]
        self._kind_weights = list(itertools.accumulate(config.text_mix[kind] for kind in self._kinds))
        self._cases = [case for case, weight in config.case_mix.items() if weight > 0]
        self._case_weights = list(itertools.accumulate(config.case_mix[case] for case in self._cases))
        self._makers: dict[str, Callable[[random.Random], str]] = {
            "word": self._word, "random": self._random, "number": self._number, "price": self._price,
            "date": self._date, "code": self._code, "punctuated": self._punctuated, "line": self._line,
        }  # fmt: skip

    def text(self, rng: random.Random, allowed: frozenset[str]) -> str:
        """A non-empty string of ``allowed`` characters, at most ``max_chars`` long (``max_line_chars``
        for a line), with single spaces between words and none at either end."""
        for _ in range(8):
            kind = rng.choices(self._kinds, cum_weights=self._kind_weights)[0]
            if kind == "line":
                if " " not in allowed:
                    continue
                line = self._fit_line(self._line(rng), allowed, rng)
                if line:
                    return line
                continue
            text = self._makers[kind](rng)
            if " " in text and " " not in allowed:
                continue  # joined words read as one long non-word: draw something else
            text = self._fit(text, allowed, rng)
            if text:
                return text[: self.config.max_chars].strip()
        return self._letters(rng, allowed, rng.randint(1, 8))

    def _fit(self, text: str, allowed: frozenset[str], rng: random.Random) -> str:
        """``text`` if the font draws all of it, else its other cases, else nothing."""
        if text and all(char in allowed for char in text):
            return text
        for variant in (text.upper(), text.lower(), text.title()):
            if variant and all(char in allowed for char in variant):
                return variant
        return ""

    def _fit_line(self, line: str, allowed: frozenset[str], rng: random.Random) -> str:
        """The words of ``line`` the font draws (each in another case if need be), joined by single
        spaces and cut at a word boundary to ``max_line_chars``; empty if fewer than two remain."""
        words: list[str] = []
        length = -1
        for token in line.split():
            fitted = self._fit(token, allowed, rng)
            if not fitted:
                continue
            if length + 1 + len(fitted) > self.config.max_line_chars:
                break
            words.append(fitted)
            length += 1 + len(fitted)
        return " ".join(words) if len(words) >= 2 else ""

    def _letters(self, rng: random.Random, allowed: frozenset[str], length: int) -> str:
        pool = sorted(char for char in allowed if char.isalnum()) or sorted(allowed - {" "})
        return "".join(rng.choice(pool) for _ in range(length))

    # -- kinds ------------------------------------------------------------------------------------
    def _word(self, rng: random.Random) -> str:
        case = rng.choices(self._cases, cum_weights=self._case_weights)[0]
        word = self.words.sample(rng)
        # Now and then two words, as signs and titles show them.
        if rng.random() < 0.06:
            word = f"{word} {self.words.sample(rng)}"
        return _case(word, case)

    def _random(self, rng: random.Random) -> str:
        length = rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 10, 12))
        alphabet = rng.choice(
            (string.ascii_lowercase, string.ascii_uppercase, string.ascii_letters, string.ascii_letters + string.digits)
        )
        return "".join(rng.choice(alphabet) for _ in range(length))

    def _number(self, rng: random.Random) -> str:
        magnitude = rng.choice((1, 2, 2, 3, 3, 4, 5, 7))
        value = rng.randrange(10 ** (magnitude - 1) if magnitude > 1 else 0, 10**magnitude)
        style = rng.random()
        if style < 0.45:
            return str(value)
        if style < 0.6:
            return f"{value:,}"
        if style < 0.72:
            return f"{value / 100:.2f}"
        if style < 0.82:
            return f"{rng.randint(1, 100)}%"
        if style < 0.9:
            return f"{rng.randint(1, 999)}{rng.choice(_UNITS)}"
        if style < 0.95:
            return f"-{value}"
        return f"{rng.randint(1, 31)}{('th', 'st', 'nd', 'rd')[rng.randint(0, 3)]}"

    def _price(self, rng: random.Random) -> str:
        whole = rng.choice((rng.randint(0, 9), rng.randint(10, 99), rng.randint(100, 9999)))
        cents = rng.choice(("", f".{rng.randint(0, 99):02d}", ".99", ".95", ".00"))
        amount = f"{whole:,}{cents}" if rng.random() < 0.5 else f"{whole}{cents}"
        currency = rng.choice(_CURRENCIES)
        return f"{amount}{currency}" if rng.random() < 0.15 else f"{currency}{amount}"

    def _date(self, rng: random.Random) -> str:
        year, month, day = rng.randint(1950, 2035), rng.randint(1, 12), rng.randint(1, 28)
        style = rng.randrange(8)
        if style == 0:
            return f"{day:02d}/{month:02d}/{year}"
        if style == 1:
            return f"{year}-{month:02d}-{day:02d}"
        if style == 2:
            return f"{day}.{month}.{year % 100:02d}"
        if style == 3:
            return f"{month}/{day}/{year % 100:02d}"
        if style == 4:
            return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        if style == 5:
            return f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}{rng.choice(('am', 'pm', 'AM', 'PM'))}"
        if style == 6:
            return _case(_MONTHS[month - 1][: rng.choice((3, 9))], rng.choice(("upper", "title")))
        return str(year)

    def _code(self, rng: random.Random) -> str:
        letters, digits = string.ascii_uppercase, string.digits
        style = rng.randrange(6)
        if style == 0:  # AB-1234
            return "".join(rng.choices(letters, k=rng.randint(1, 3))) + "-" + "".join(rng.choices(digits, k=4))
        if style == 1:  # X7K2Q
            return "".join(rng.choices(letters + digits, k=rng.randint(3, 8)))
        if style == 2:  # 555-0123
            return "".join(rng.choices(digits, k=3)) + "-" + "".join(rng.choices(digits, k=4))
        if style == 3:  # #42, No.7
            return rng.choice(("#", "No.", "No", "Nr.")) + str(rng.randint(1, 999))
        if style == 4:  # A12
            return rng.choice(letters) + str(rng.randint(1, 99))
        return "".join(rng.choices(digits, k=rng.randint(5, 12)))  # a long number: a barcode's digits

    def _line(self, rng: random.Random) -> str:
        """Words in sentence-like order: a capital first, commas, numbers, prices, dates and codes
        among them, and a closing mark; sometimes all capitals or title case, as headings are."""
        count = rng.randint(*self.config.line_words_range)
        tokens: list[str] = []
        for position in range(count):
            roll = rng.random()
            if roll < 0.06:
                token = self._number(rng)
            elif roll < 0.08:
                token = self._price(rng)
            elif roll < 0.10:
                token = self._date(rng)
            elif roll < 0.12:
                token = self._code(rng)
            elif roll < 0.14:
                token = rng.choice(("-", "&", "+", "/", "=", "|", "--", "*", "..."))
            elif roll < 0.19:
                token = self._technical(rng)
            else:
                token = self.words.sample(rng).lower()
                if rng.random() < 0.05:
                    token = token[:1].upper() + token[1:]  # a name (str.title would give "Don'T")
                if position < count - 1 and rng.random() < 0.08:
                    token += rng.choice(",,,,;:")
                elif rng.random() < 0.02:
                    opening, closing = rng.choice(('""', "''", "()"))  # a matched pair
                    token = opening + token + closing
            tokens.append(token)
        if count >= 4 and rng.random() < 0.12:  # a parenthetical or bracketed run of words
            start = rng.randrange(1, count - 1)
            end = rng.randrange(start, min(count, start + 4))
            opening, closing = rng.choice(("()", "()", "()", "[]", '""'))
            tokens[start] = opening + tokens[start]
            tokens[end] = tokens[end] + closing
        broken_end = broken_start = False
        if self.config.p_line_hyphen:  # no draws at 0, so other configs draw the lines they drew before
            broken_end = rng.random() < self.config.p_line_hyphen and _breakable(tokens[-1])
            if broken_end:
                tokens[-1] = tokens[-1][: rng.randint(2, len(tokens[-1]) - 2)] + "-"
            broken_start = rng.random() < self.config.p_line_hyphen and _breakable(tokens[0])
            if broken_start:
                tokens[0] = tokens[0][rng.randint(2, len(tokens[0]) - 2) :]
        style = rng.random()
        if style < 0.1:
            tokens = [token.upper() for token in tokens]
        elif style < 0.2:
            tokens = [token[:1].upper() + token[1:] for token in tokens]
        else:
            if not broken_start:  # the rest of a broken word keeps its lower case
                tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
            if not broken_end and rng.random() < 0.6:
                tokens[-1] += rng.choice("......!?:;")
        return " ".join(tokens)

    def _technical(self, rng: random.Random) -> str:
        """What manuals and papers print between words: addresses, paths, identifiers, options,
        versions and references, the tokens a line reader otherwise never sees."""
        word, other = self.words.sample(rng).lower(), self.words.sample(rng).lower()
        style = rng.randrange(12)
        if style == 0:
            scheme = rng.choice(("https://", "http://", "https://www.", "www.", "ftp://"))
            path = rng.choice(("", f"/{other}", f"/{other}/", f"/{other}/{rng.randint(1, 999)}", f"/~{other}"))
            return f"{scheme}{word}.{rng.choice(_TLDS)}{path}"
        if style == 1:
            root = rng.choice(("/usr/", "/etc/", "/var/lib/", "~/", "./", "../", "/home/", "C:\\"))
            separator = "\\" if root.startswith("C:") else "/"
            return f"{root}{word}{separator}{other}.{rng.choice(_EXTENSIONS)}"
        if style == 2:
            return rng.choice((f"{word}_{other}", f"{word}_{other}()", f"{word}.{other}()", f"__{word}__",
                               f"{word}[{rng.randint(0, 9)}]", f"{word}::{other}", f"{word}->{other}"))  # fmt: skip
        if style == 3:
            return rng.choice((f"--{word}", f"--{word}-{other}", f"-{rng.choice(string.ascii_letters)}",
                               f"--{word}={other}"))  # fmt: skip
        if style == 4:
            return f"{word}={rng.choice((str(rng.randint(0, 999)), other, 'true', 'false', '0.5'))}"
        if style == 5:
            parts = [str(rng.randint(0, 20)) for _ in range(rng.randint(2, 3))]
            return rng.choice(("", "v", "")) + ".".join(parts) + rng.choice(("", "", "-1", "+dfsg", "~rc1"))
        if style == 6:
            return f"{word}@{other}.{rng.choice(_TLDS)}" if rng.random() < 0.7 else f"<{word}@{other}.org>"
        if style == 7:
            first, second = rng.randint(1, 60), rng.randint(1, 9)
            numbered = (f"[{first}]", f"[{second}, {rng.randint(10, 40)}]", f"({rng.randint(1, 12)})")
            return rng.choice((*numbered, f"[{word}]", f"<{word}>", f"{{{word}}}", f"({word})"))
        if style == 8:
            return rng.choice(_ABBREVIATIONS)
        if style == 9:
            return rng.choice((f"{word}(8)", f"{word}(1)", f"{word}.{rng.choice(_EXTENSIONS)}", f"'{word}'",
                               f"`{word}`", f'"{word}"'))  # fmt: skip
        if style == 10:
            return f"{word.upper()}_{other.upper()}" if rng.random() < 0.5 else f"${word.upper()}"
        return rng.choice((f"{word}/{other}", f"{word}-{other}", f"{word}'s", f"{word}/{other}/"))

    def _punctuated(self, rng: random.Random) -> str:
        word = _case(self.words.sample(rng), rng.choices(self._cases, cum_weights=self._case_weights)[0])
        style = rng.randrange(10)
        if style < 3:
            return word + rng.choice(".,!?:;")
        if style == 3:
            pair = rng.choice(("()", "[]", '""', "''", "<>", "{}"))
            return pair[0] + word + pair[1]
        if style == 4:
            return f"{word}'s" if rng.random() < 0.5 else f"{word}-{self.words.sample(rng)}"
        if style == 5:
            return rng.choice(("@", "#", "*", "&", "+", "~")) + word
        if style == 6:
            return f"{word}.{rng.choice(('com', 'org', 'net', 'co.uk', 'io'))}"
        if style == 7:
            return f"{word}&{self.words.sample(rng)}" if rng.random() < 0.5 else f"{word}/{self.words.sample(rng)}"
        if style == 8:
            return f"{word}_{rng.randint(1, 99)}"
        return rng.choice(("...", "!!", "?!", "--", "*", "=", "%", "|", "^", "`", "{", "}", "\\")) + word
