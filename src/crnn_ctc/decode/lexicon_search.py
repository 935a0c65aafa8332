"""The paper's lexicon-based transcription: the lexicon words within an edit distance of the greedy text,
scored by their exact CTC probability; the most probable one is the answer.

Scoring every neighbour with the forward algorithm would dominate the cost for a large lexicon (a
greedy text has about a thousand neighbours within 3 edits in 100,000 English words), so the search
is a branch and bound that returns the same answer as exhaustive scoring:

1. the nearest neighbours (fewest edits) are scored exactly first; the best of them is the answer to beat;
2. every other candidate gets an upper bound of its probability. Every alignment of a word only visits
   its own symbols S and the blank, and emits each of its symbols c at least once, so with
   m_t = sum over S + blank of p_t: P(word | image) <= prod_t m_t - prod_t (m_t - p_t(c)) for each c;
3. candidates whose bound can beat the best exact score are scored, in decreasing bound order, a few
   at a time, until no bound can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..charset import Charset
from ..errors import ConfigError
from . import ctc
from .base import Decoded, allowed_classes, check_shapes, decoded_batch
from .greedy import GreedyDecoder
from .lexicon import ImageLexicons, Lexicon

# Nearest neighbours scored first, per sample: the answer is nearly always among them.
_FIRST_SCORED = 8
# Then candidates scored exactly per sample and round while their bounds can still win.
_ROUND_SIZES = (1, 8, 64)
# Bounds are computed partly in float32; the margin (in log space) keeps them upper bounds.
_BOUND_MARGIN = 1e-3


@dataclass
class _Candidates:
    """Lexicon words to score: pair m is word ``words[m]`` of ``lexicon``, ``distances[m]`` edits from the
    greedy text of sample ``rows[m]``."""

    lexicon: Lexicon
    rows: np.ndarray
    words: np.ndarray
    distances: np.ndarray


class LexiconDecoder:
    """Greedy text -> the most probable lexicon word within ``max_edit_distance`` of it.

    With no word within that distance, a lexicon of at most ``full_search_limit`` words is searched in
    full; otherwise the greedy text is returned with ``flagged=True``, as it is for an image with no
    lexicon at all. A per-image lexicon (``image_lexicons``, found by the names ``decode`` is given)
    takes precedence over the global ``lexicon``. ``allow``/``block`` exclude words with other symbols.
    """

    name = "lexicon"

    def __init__(
        self,
        charset: Charset,
        lexicon: Lexicon | None = None,
        *,
        image_lexicons: ImageLexicons | None = None,
        max_edit_distance: int = 3,
        full_search_limit: int = 1000,
        allow: str | None = None,
        block: str | None = None,
    ) -> None:
        if lexicon is None and image_lexicons is None:
            raise ConfigError("the lexicon decoder needs a lexicon or per-image lexicons")
        for given in (lexicon, image_lexicons):
            if given is not None and given.charset != charset:
                raise ConfigError(f"the lexicon was spelled for {given.charset!r}, but the model reads {charset!r}")
        if max_edit_distance < 0:
            raise ConfigError(f"max edit distance must be at least 0, got {max_edit_distance}")
        self.charset = charset
        self.lexicon = lexicon
        self.image_lexicons = image_lexicons
        self.max_edit_distance = max_edit_distance
        self.full_search_limit = full_search_limit
        self.allowed = allowed_classes(charset, allow, block)
        self._greedy = GreedyDecoder(charset, allow=allow, block=block)

    def lexicon_for(self, name: str | None) -> Lexicon | None:
        if self.image_lexicons is not None and name is not None:
            found = self.image_lexicons.lookup(name)
            if found is not None:
                return found
        return self.lexicon

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None) -> list[Decoded]:
        log_probs, lengths = check_shapes(log_probs, lengths, self.charset)
        greedy = self._greedy.decode(log_probs, lengths)
        candidates = self._candidates(greedy, lengths, names)
        best_word: list[tuple[Lexicon, int] | None] = [None] * len(greedy)
        if candidates:
            for row, lexicon, word in _best_words(log_probs, lengths, candidates):
                best_word[row] = (lexicon, word)
        labels: list[list[int]] = []
        for row, found in enumerate(best_word):
            if found is None:
                labels.append(self.charset.encode(greedy[row].text))
            else:
                word_labels, word_length = found[0].labels(np.array([found[1]]))
                labels.append(word_labels[0, : word_length[0]].tolist())
        return decoded_batch(self.charset, log_probs, lengths, labels, [found is None for found in best_word])

    def _candidates(self, greedy: list[Decoded], lengths: np.ndarray, names: Sequence[str] | None) -> list[_Candidates]:
        """The words to score for each sample, grouped by lexicon so each lexicon is queried once per batch."""
        groups: dict[int, tuple[Lexicon, list[int]]] = {}
        for row in range(len(greedy)):
            lexicon = self.lexicon_for(names[row] if names is not None else None)
            if lexicon is not None and lengths[row] > 0:
                groups.setdefault(id(lexicon), (lexicon, []))[1].append(row)
        result = []
        for lexicon, rows in groups.values():
            neighbours = lexicon.within([greedy[row].text for row in rows], self.max_edit_distance)
            usable = lexicon.usable(self.allowed)
            pair_rows, pair_words, pair_distances = [], [], []
            for row, (words, distances) in zip(rows, neighbours, strict=True):
                keep = self._keep(lexicon, usable, words, lengths[row])
                if not keep.any() and len(lexicon) <= self.full_search_limit:
                    words, distances = np.arange(len(lexicon)), lexicon.distances(greedy[row].text)
                    keep = self._keep(lexicon, usable, words, lengths[row])
                pair_rows.append(np.full(int(keep.sum()), row))
                pair_words.append(words[keep])
                pair_distances.append(distances[keep])
            result.append(
                _Candidates(lexicon, *(np.concatenate(parts) for parts in (pair_rows, pair_words, pair_distances)))
            )
        return result

    @staticmethod
    def _keep(lexicon: Lexicon, usable: np.ndarray | None, words: np.ndarray, steps: int) -> np.ndarray:
        """Which of ``words`` may be the answer: it fits in the image's steps and uses allowed symbols only."""
        keep = lexicon.steps_needed[words] <= steps
        return keep & usable[words] if usable is not None else keep


def _best_words(
    log_probs: np.ndarray, lengths: np.ndarray, groups: list[_Candidates]
) -> list[tuple[int, Lexicon, int]]:
    """(row, lexicon, word) of the most probable candidate of each sample that has one (see the module docstring)."""
    probs = np.exp(log_probs)
    steps = np.arange(log_probs.shape[1]) < lengths[:, np.newaxis]
    best_score = np.full(len(log_probs), -np.inf)
    best: dict[int, tuple[Lexicon, int]] = {}

    def score(lexicon: Lexicon, rows: np.ndarray, words: np.ndarray) -> None:
        labels, label_lengths = lexicon.labels(words)
        scores = ctc.log_likelihood(log_probs, lengths, labels, label_lengths, rows)
        for row, word, value in zip(rows.tolist(), words.tolist(), scores.tolist(), strict=True):
            if value > best_score[row]:
                best_score[row] = value
                best[row] = (lexicon, word)

    for group in groups:
        if not len(group.rows):
            continue
        labels, label_lengths = group.lexicon.labels(group.words)
        log_mass, mass = _symbol_set_bounds(probs, steps, group.rows, labels)
        nearest = np.full(len(log_probs), np.iinfo(np.int64).max)
        np.minimum.at(nearest, group.rows, group.distances)
        is_nearest = group.distances == nearest[group.rows]
        first = is_nearest & (_rank(group.rows, np.where(is_nearest, log_mass, -np.inf)) < _FIRST_SCORED)
        score(group.lexicon, group.rows[first], group.words[first])
        open_ = ~first & (log_mass + _BOUND_MARGIN >= best_score[group.rows])
        rows, words = group.rows[open_], group.words[open_]
        bounds = _refined_bounds(probs, steps, rows, labels[open_], label_lengths[open_], log_mass[open_], mass[open_])
        rank = _rank(rows, bounds)
        done = np.zeros(len(rows), dtype=bool)
        for size in np.cumsum((*_ROUND_SIZES, len(rows))):
            pick = ~done & (rank < size) & (bounds + _BOUND_MARGIN >= best_score[rows])
            if not pick.any():
                break
            done |= pick
            score(group.lexicon, rows[pick], words[pick])
    return [(row, lexicon, word) for row, (lexicon, word) in best.items() if np.isfinite(best_score[row])]


def _rank(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each pair's position among its sample's pairs, by decreasing value."""
    order = np.lexsort((-values, rows))
    rank = np.empty(len(rows), dtype=np.int64)
    sorted_rows = rows[order]
    rank[order] = np.arange(len(rows)) - np.searchsorted(sorted_rows, sorted_rows)
    return rank


def _symbol_set_bounds(
    probs: np.ndarray, steps: np.ndarray, rows: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log prod_t m_t >= log P(word | image), and the per-step mass m (pairs, steps), 1 past a sample's length."""
    symbols = np.zeros((len(labels), probs.shape[2]), dtype=np.float32)
    symbols[np.repeat(np.arange(len(labels)), labels.shape[1]), labels.ravel()] = 1.0
    symbols[:, 0] = 1.0  # the blank (and the padding, which is the blank)
    mass = np.ones((len(labels), probs.shape[1]), dtype=np.float32)
    for row in np.unique(rows):
        members = np.flatnonzero(rows == row)
        mass[members] = np.where(steps[row], symbols[members] @ probs[row].T, 1.0)
    mass = np.minimum(mass, 1.0)
    with np.errstate(divide="ignore"):
        return np.log(mass).sum(axis=1, dtype=np.float64), mass


def _refined_bounds(
    probs: np.ndarray,
    steps: np.ndarray,
    rows: np.ndarray,
    labels: np.ndarray,
    label_lengths: np.ndarray,
    log_mass: np.ndarray,
    mass: np.ndarray,
) -> np.ndarray:
    """min over the word's symbols c of log(prod_t m_t - prod_t (m_t - p_t(c))) >= log P(word | image)."""
    emitted = probs.transpose(0, 2, 1)[rows[:, np.newaxis], labels]  # (pairs, L, steps)
    share = np.where(steps[rows][:, np.newaxis, :], emitted / np.maximum(mass, 1e-30)[:, np.newaxis, :], 0.0)
    # -log P(no step emits c | every step in the set), computed with log1p to stay accurate for small shares.
    # A step where c takes all the mass (share 1) makes it infinite, as it should: no warning for that.
    with np.errstate(divide="ignore"):
        never = -np.log1p(-np.minimum(share, 1.0)).sum(axis=2, dtype=np.float64)
    never[np.arange(labels.shape[1]) >= label_lengths[:, np.newaxis]] = np.inf
    with np.errstate(divide="ignore"):
        return log_mass + np.log(-np.expm1(-never.min(axis=1, initial=np.inf)))
