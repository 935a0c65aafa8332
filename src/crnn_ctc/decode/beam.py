"""CTC prefix beam search in log space, batched: every sample's beam advances in the same NumPy step.

Each beam entry is a distinct prefix (a labelling so far) with two scores, the log-probability of
its alignments ending in a blank and ending in its last symbol. Prefixes are nodes of a trie, so two
ways of reaching the same prefix always merge. With ``beam_width`` at least the number of prefixes
nothing is pruned and the final scores are the exact P(labelling | image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..charset import BLANK, Charset
from ..errors import ConfigError
from .base import Decoded, allowed_classes, check_shapes, constrain, decoded_batch
from .word_prior import ExtensionScores, WordPrior

NEG_INF = -np.inf
# With a word prior, a symbol whose log-probability at a step is below this is not tried there (about 1 in
# 1,100): scoring every symbol's extension of every prefix would cost 10 times more for the same texts. At
# e^-10 instead, the texts of IIIT5K and the held-out words and lines came out the same, at about twice
# the time (docs/word_prior.md).
SYMBOL_FLOOR = -7.0
# With a word prior, a symbol may follow itself without a blank between, at this log-probability: CTC
# needs a blank step between double letters, and a narrow pair (ff, tt, the ffi ligature) on a printed
# line can be too few steps wide for one (``dificult``, ``htps``). At e^-2.3, with the prior's weight
# 0.4, the doubled word must be about 300 times as frequent as the word read (``of``/``off``, ``al``/``all``
# stay as read): in practice a non-word becoming a word. IIIT5K and the held-out words and lines read
# exactly the same at e^-2.3 and e^-4.6 as without it (docs/word_prior.md); the confidence stays the
# model's P(text | image), which is low for such a text.
UNBLANKED_REPEAT = math.log(0.1)


class _Trie:
    """Prefix identities: node 0..N-1 are the samples' empty prefixes; a child is (parent, symbol).

    With a word prior, a node also holds its prefix's token being read (the text after its last space) and
    the prior's score of the tokens before it.
    """

    def __init__(self, roots: int, classes: int, extensions: ExtensionScores | None = None) -> None:
        self.classes = classes
        self.parent = [-1] * roots
        self.symbol = [BLANK] * roots
        self.children: dict[int, int] = {}
        self.extensions = extensions
        self.token = [""] * roots
        self.finished = [0.0] * roots

    def child(self, parent: int, symbol: int) -> int:
        key = parent * self.classes + symbol
        node = self.children.get(key)
        if node is None:
            node = len(self.parent)
            self.children[key] = node
            self.parent.append(parent)
            self.symbol.append(symbol)
            if self.extensions is not None:
                text = self.extensions.symbols[symbol - 1]
                token = self.token[parent]
                if text == " ":
                    self.token.append("")
                    self.finished.append(self.finished[parent] + self.extensions.prior.token_score(token))
                else:
                    self.token.append(token + text)
                    self.finished.append(self.finished[parent])
        return node

    def prior_scores(
        self, nodes: np.ndarray, step_log_probs: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The prior's score of each node's prefix (-1: none) and of its one-symbol extensions, (samples,
        width) and (samples, width, classes - 1), for the ``active`` samples (the others keep their beams).
        Only symbols above ``SYMBOL_FLOOR`` at this step are scored; the others are left out of the
        extensions (-inf), as they could only enter the beam where it is not full, with a text no reading
        supports. A sample with no such symbol at this step keeps its beam as it is, so its prefixes'
        scores are not needed (left 0)."""
        assert self.extensions is not None
        prior, delta = self.extensions.prior, self.extensions.delta
        stay = np.zeros(nodes.shape)
        extend = np.full((*nodes.shape, self.classes - 1), NEG_INF)
        likely_rows, likely_symbols = np.nonzero((step_log_probs[:, 1:] > SYMBOL_FLOOR) & active[:, np.newaxis])
        likely: list[list[int]] = [[] for _ in range(len(nodes))]
        for row, symbol in zip(likely_rows.tolist(), likely_symbols.tolist(), strict=True):
            likely[row].append(symbol)
        rows, slots, symbols, scores = [], [], [], []  # the extensions scored, gathered for one assignment
        for row, row_nodes in enumerate(nodes.tolist()):
            if not likely[row]:  # (or not active) no extension to rank: the beam stays, whatever the prior says
                continue
            for slot, node in enumerate(row_nodes):
                if node < 0:
                    continue
                token = self.token[node]
                base = self.finished[node] + prior.partial_score(token)
                stay[row, slot] = base
                for symbol in likely[row]:
                    rows.append(row)
                    slots.append(slot)
                    symbols.append(symbol)
                    scores.append(base + delta(token, symbol))
        extend[rows, slots, symbols] = scores
        return stay, extend

    def final_score(self, node: int) -> float:
        """The prior's score of a node's prefix as a whole text (its last token finished; an empty text scores 0)."""
        assert self.extensions is not None
        if self.parent[node] < 0:
            return 0.0
        return self.finished[node] + self.extensions.prior.token_score(self.token[node])

    def labels(self, node: int) -> tuple[int, ...]:
        symbols = []
        while self.parent[node] >= 0:
            symbols.append(self.symbol[node])
            node = self.parent[node]
        return tuple(reversed(symbols))


@dataclass(frozen=True)
class _Beams:
    """Every sample's beam as (samples, width) arrays: the log-probability of a prefix's alignments ending in
    a blank and in its last symbol, the prefix's trie node, its parent's node and its last symbol. Unused
    slots have node -1 and -inf scores."""

    blank_score: np.ndarray
    symbol_score: np.ndarray
    node: np.ndarray
    parent: np.ndarray
    last: np.ndarray

    @classmethod
    def start(cls, samples: int, width: int) -> _Beams:
        """Each sample's beam holding its empty prefix (its root node) alone, with probability 1."""
        blank_score = np.full((samples, width), NEG_INF)
        symbol_score = np.full((samples, width), NEG_INF)
        node = np.full((samples, width), -1, dtype=np.int64)
        parent = np.full((samples, width), -2, dtype=np.int64)
        last = np.zeros((samples, width), dtype=np.int64)
        blank_score[:, 0] = 0.0
        node[:, 0] = np.arange(samples)
        parent[:, 0] = -1
        return cls(blank_score, symbol_score, node, parent, last)


def prefix_beam_search(
    log_probs: np.ndarray,
    lengths: np.ndarray,
    beam_width: int,
    allowed: np.ndarray | None = None,
    extensions: ExtensionScores | None = None,
    repeat_penalty: float | None = None,
) -> list[list[tuple[tuple[int, ...], float]]]:
    """Each sample's final beam, best first: (labels, score) pairs, labels as class indices. The score is
    the log-probability, plus the word prior's score of the text when ``extensions`` brings one (the
    prior then also ranks the prefixes as the beam advances: shallow fusion)."""
    if beam_width < 1:
        raise ConfigError(f"beam width must be at least 1, got {beam_width}")
    log_probs = constrain(np.asarray(log_probs), allowed)
    lengths = np.asarray(lengths, dtype=np.int64)
    samples, total_steps, classes = log_probs.shape
    if extensions is not None and len(extensions.symbols) != classes - 1:
        raise ValueError(f"the word prior was built for {len(extensions.symbols)} symbols, the model has {classes - 1}")
    trie = _Trie(samples, classes, extensions)
    beams = _Beams.start(samples, beam_width)
    for step in range(min(total_steps, int(np.max(lengths, initial=0)))):
        stay_blank, stay_symbol, extend = _extensions(beams, log_probs[:, step, :].astype(np.float64), repeat_penalty)
        active = step < lengths
        prior = trie.prior_scores(beams.node, log_probs[:, step, :], active) if extensions is not None else None
        beams = _advance(beams, stay_blank, stay_symbol, extend, active[:, np.newaxis], trie, prior)
    final = np.logaddexp(beams.blank_score, beams.symbol_score)
    if extensions is not None:
        final = final + np.array(
            [[trie.final_score(int(node)) if node >= 0 else 0.0 for node in row] for row in beams.node]
        )
    result = []
    for row in range(samples):
        order = np.argsort(-final[row], kind="stable")
        nodes = beams.node[row]
        result.append([(trie.labels(int(nodes[slot])), float(final[row, slot])) for slot in order if nodes[slot] >= 0])
    return result


def _extensions(
    beams: _Beams, step_log_probs: np.ndarray, repeat_penalty: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One more step's scores: of each prefix staying as it is, ending in a blank and in its symbol,
    (samples, width) each, and of each extension by a symbol, (samples, width, classes - 1). An extension
    that is already in the beam is merged into that entry, and is -inf among the extensions.
    ``repeat_penalty`` (log): the prefix's own last symbol may also follow it without a blank between,
    at that cost (``UNBLANKED_REPEAT``)."""
    blank_score, symbol_score = beams.blank_score, beams.symbol_score
    node, parent, last = beams.node, beams.parent, beams.last
    symbols = np.arange(1, step_log_probs.shape[1])
    total = np.logaddexp(blank_score, symbol_score)
    stay_blank = total + step_log_probs[:, BLANK, np.newaxis]
    stay_symbol = symbol_score + np.take_along_axis(step_log_probs, last, axis=1)
    # Extending by the prefix's own last symbol needs a blank in between (or pays the repeat penalty).
    repeat_from = blank_score
    if repeat_penalty is not None:
        repeat_from = np.logaddexp(blank_score, symbol_score + repeat_penalty)
    from_score = np.where(last[:, :, np.newaxis] == symbols, repeat_from[:, :, np.newaxis], total[:, :, np.newaxis])
    extend = from_score + step_log_probs[:, np.newaxis, 1:]
    # An extension that is already in the beam merges into that entry.
    is_parent = (parent[:, :, np.newaxis] == node[:, np.newaxis, :]) & (node[:, np.newaxis, :] >= 0)
    sample_of, child_slot = np.nonzero(is_parent.any(axis=2))
    parent_slot = is_parent[sample_of, child_slot].argmax(axis=1)
    symbol_index = last[sample_of, child_slot] - 1
    stay_symbol[sample_of, child_slot] = np.logaddexp(
        stay_symbol[sample_of, child_slot], extend[sample_of, parent_slot, symbol_index]
    )
    extend[sample_of, parent_slot, symbol_index] = NEG_INF
    return stay_blank, stay_symbol, extend


def _advance(
    beams: _Beams,
    stay_blank: np.ndarray,
    stay_symbol: np.ndarray,
    extend: np.ndarray,
    active: np.ndarray,
    trie: _Trie,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
) -> _Beams:
    """The ``width`` best of the stayed and extended prefixes, ranked with the word prior's scores (stay,
    extend) when given; a sample past its length (not ``active``) keeps its beam. A new prefix gets its
    trie node here. The scores kept are the model's alone."""
    samples, width = beams.node.shape
    classes = extend.shape[2] + 1
    sample_index = np.arange(samples)[:, np.newaxis]
    candidates = np.concatenate([np.logaddexp(stay_blank, stay_symbol), extend.reshape(samples, -1)], axis=1)
    ranked = candidates
    if prior is not None:
        ranked = candidates + np.concatenate([prior[0], prior[1].reshape(samples, -1)], axis=1)
    chosen = np.argpartition(-ranked, width - 1, axis=1)[:, :width]
    chosen_score = np.where(
        np.isfinite(np.take_along_axis(ranked, chosen, axis=1)), np.take_along_axis(candidates, chosen, axis=1), NEG_INF
    )
    stays = chosen < width
    source = np.where(stays, chosen, (chosen - width) // (classes - 1))
    new_symbol = np.where(stays, beams.last[sample_index, source], (chosen - width) % (classes - 1) + 1)
    new_blank = np.where(stays, stay_blank[sample_index, source], NEG_INF)
    new_symbol_score = np.where(stays, stay_symbol[sample_index, source], chosen_score)
    new_parent = np.where(stays, beams.parent[sample_index, source], beams.node[sample_index, source])
    new_node = np.where(stays, beams.node[sample_index, source], -1)
    used = np.isfinite(chosen_score)
    for row, slot in zip(*np.nonzero(used & ~stays & active), strict=True):
        new_node[row, slot] = trie.child(int(new_parent[row, slot]), int(new_symbol[row, slot]))
    keep_old = ~active
    return _Beams(
        blank_score=np.where(keep_old, beams.blank_score, np.where(used, new_blank, NEG_INF)),
        symbol_score=np.where(keep_old, beams.symbol_score, np.where(used, new_symbol_score, NEG_INF)),
        node=np.where(keep_old, beams.node, np.where(used, new_node, -1)),
        parent=np.where(keep_old, beams.parent, np.where(used, new_parent, -2)),
        last=np.where(keep_old, beams.last, np.where(used, new_symbol, BLANK)),
    )


class BeamSearchDecoder:
    """CTC prefix beam search, with a word prior when given; returns the best final prefix, its confidence
    by the forward algorithm (the model's P(text | image), without the prior)."""

    name = "beam"

    def __init__(
        self,
        charset: Charset,
        *,
        beam_width: int = 10,
        allow: str | None = None,
        block: str | None = None,
        word_prior: WordPrior | None = None,
    ) -> None:
        if beam_width < 1:
            raise ConfigError(f"beam width must be at least 1, got {beam_width}")
        self.charset = charset
        self.beam_width = beam_width
        self.allowed = allowed_classes(charset, allow, block)
        self.word_prior = word_prior
        self._extensions = word_prior.extensions(charset.symbols) if word_prior is not None else None

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None) -> list[Decoded]:
        log_probs, lengths = check_shapes(log_probs, lengths, self.charset)
        repeat = UNBLANKED_REPEAT if self._extensions is not None else None
        beams = prefix_beam_search(log_probs, lengths, self.beam_width, self.allowed, self._extensions, repeat)
        labels = [list(beam[0][0]) if beam else [] for beam in beams]
        return decoded_batch(self.charset, log_probs, lengths, labels)
