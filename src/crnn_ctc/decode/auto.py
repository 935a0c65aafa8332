"""The default decoder: greedy where the model is sure of its reading, beam search with a word prior where
it is not.

Beam search with the English word prior reads real words and lines far better than greedy decoding
(IIIT5K 90.30% -> 94.40%, held-out printed lines WER 11.6% -> 7.7%: docs/word_prior.md), but it costs
about 1-2 ms of CPU per word crop in Python, as much as the int8 network itself. Almost all of its gain
is on readings the model is unsure of: below a greedy confidence of 0.8 (a quarter of the IIIT5K crops,
a third of the held-out words) lie the errors the prior fixes, so the beam runs only there
(docs/word_prior.md, "Only where the model is unsure").

The prior is built on the first unsure reading, not before: a batch the model is sure of never loads
the word list (a second or two).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence

import numpy as np

from ..charset import Charset
from ..errors import ConfigError
from .base import Decoded, check_shapes
from .beam import BeamSearchDecoder
from .greedy import GreedyDecoder
from .word_prior import WordPrior

# Chosen on the held-out synthetic words, words with context and printed lines (not IIIT5K): at 0.8 the
# gated decoder keeps the whole prior's accuracy on the words and within 0.2 points on the lines.
GREEDY_ABOVE = 0.8
# An unsure crop is also read this much wider, and the more confident greedy reading goes on (to the beam
# where still unsure). Scene words are often set narrow, and the model was trained on natural widths:
# chosen on the held-out synthetic words, words with context and printed lines, where 1.15 gained 0.2
# to 1.4 points with ``auto`` and also adding 0.85 lost them again (docs/word_prior.md, "Read wider").
WIDER = 1.15


def reads_english(charset: Charset) -> bool:
    """Whether the charset spells English words: every Latin letter in one case or the other."""
    symbols = set(charset.symbols)
    return all(letter in symbols or letter.upper() in symbols for letter in string.ascii_lowercase)


class AutoDecoder:
    """Greedy decoding, then beam search with ``word_prior`` (built on first use) for every sample whose
    greedy reading has a confidence below ``greedy_above``. Without a word prior (a charset that does not
    spell English words, and none given), it is greedy decoding. Confidences stay P(text | image).

    ``wider``: where the images are at hand (``inference.recognize_window``), an unsure one is also read
    ``wider`` times wider and the more confident greedy reading is the one reread; ``decode`` alone,
    given only log-probabilities, cannot do that part.
    """

    name = "auto"

    def __init__(
        self,
        charset: Charset,
        *,
        word_prior: Callable[[], WordPrior] | None,
        greedy_above: float = GREEDY_ABOVE,
        beam_width: int = 10,
        allow: str | None = None,
        block: str | None = None,
        wider: float | None = WIDER,
    ) -> None:
        if not 0 <= greedy_above <= 1:
            raise ConfigError(f"--greedy-above is a confidence in [0, 1], got {greedy_above}")
        if wider is not None and not 1.0 <= wider <= 4.0:
            raise ConfigError(f"--wider must lie in 1 (no wider reading) .. 4, got {wider}")
        self.charset = charset
        self.greedy_above = greedy_above
        self.wider = None if wider == 1.0 else wider
        self.greedy = GreedyDecoder(charset, allow=allow, block=block)
        self._word_prior = word_prior
        self._beam: BeamSearchDecoder | None = None
        self._beam_width, self._allow, self._block = beam_width, allow, block

    @property
    def beam(self) -> BeamSearchDecoder | None:
        """The beam search with the word prior, built (and the prior loaded) on first use; None without a prior."""
        if self._beam is None and self._word_prior is not None:
            self._beam = BeamSearchDecoder(
                self.charset, beam_width=self._beam_width, allow=self._allow, block=self._block,
                word_prior=self._word_prior(),
            )  # fmt: skip
        return self._beam

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None) -> list[Decoded]:
        log_probs, lengths = check_shapes(log_probs, lengths, self.charset)
        results = self.greedy.decode(log_probs, lengths, names)
        unsure = [row for row, result in enumerate(results) if self.unsure(result)]
        rows = [log_probs[row, : int(lengths[row])] for row in unsure]
        reread = self.reread(rows, [names[row] for row in unsure] if names else None)
        for row, result in zip(unsure, reread, strict=True) if reread is not None else ():
            results[row] = result
        return results

    def unsure(self, reading: Decoded | None) -> bool:
        """Whether a greedy reading is below ``greedy_above`` (read again: wider, then with the prior)."""
        return reading is not None and reading.confidence < self.greedy_above

    def settle(
        self,
        readings: dict[int, Decoded],
        rows: dict[int, np.ndarray],
        wider: dict[int, tuple[Decoded, np.ndarray]],
        names: dict[int, str],
    ) -> None:
        """The second look at unsure readings (by index, with their log-probs and names), given their wider
        ones (index -> greedy reading and log-probs): the more confident reading of each is kept, and
        those still unsure are read again with the beam and the prior. Updates ``readings`` and ``rows``."""
        for index, (reading, log_probs) in wider.items():
            if reading.confidence > readings[index].confidence:
                readings[index], rows[index] = reading, log_probs
        still = [index for index, reading in readings.items() if self.unsure(reading)]
        reread = self.reread([rows[index] for index in still], [names[index] for index in still])
        for index, reading in zip(still, reread, strict=True) if reread is not None else ():
            readings[index] = reading

    def reread(self, rows: Sequence[np.ndarray], names: Sequence[str] | None = None) -> list[Decoded] | None:
        """Beam search with the word prior over each row's log-probabilities (steps, classes); None without
        a prior (the greedy readings stand)."""
        if not rows or self._word_prior is None:
            return None
        beam = self.beam
        assert beam is not None
        lengths = np.array([len(row) for row in rows], dtype=np.int64)
        batch = np.zeros((len(rows), max(int(lengths.max()), 1), rows[0].shape[1]), dtype=rows[0].dtype)
        for index, row in enumerate(rows):
            batch[index, : len(row)] = row
        return beam.decode(batch, lengths, names)
