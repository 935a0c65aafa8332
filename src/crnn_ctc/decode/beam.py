"""CTC prefix beam search in log space, batched: every sample's beam advances in the same NumPy step.

Each beam entry is a distinct prefix (a labelling so far) with two scores, the log-probability of
its alignments ending in a blank and ending in its last symbol. Prefixes are nodes of a trie, so two
ways of reaching the same prefix always merge. With ``beam_width`` at least the number of prefixes
nothing is pruned and the final scores are the exact P(labelling | image).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..charset import BLANK, Charset
from ..errors import ConfigError
from .base import Decoded, allowed_classes, check_shapes, constrain, decoded_batch

NEG_INF = -np.inf


class _Trie:
    """Prefix identities: node 0..N-1 are the samples' empty prefixes; a child is (parent, symbol)."""

    def __init__(self, roots: int, classes: int) -> None:
        self.classes = classes
        self.parent = [-1] * roots
        self.symbol = [BLANK] * roots
        self.children: dict[int, int] = {}

    def child(self, parent: int, symbol: int) -> int:
        key = parent * self.classes + symbol
        node = self.children.get(key)
        if node is None:
            node = len(self.parent)
            self.children[key] = node
            self.parent.append(parent)
            self.symbol.append(symbol)
        return node

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
    log_probs: np.ndarray, lengths: np.ndarray, beam_width: int, allowed: np.ndarray | None = None
) -> list[list[tuple[tuple[int, ...], float]]]:
    """Each sample's final beam, best first: (labels, log-probability) pairs, labels as class indices."""
    if beam_width < 1:
        raise ConfigError(f"beam width must be at least 1, got {beam_width}")
    log_probs = constrain(np.asarray(log_probs), allowed)
    lengths = np.asarray(lengths, dtype=np.int64)
    samples, total_steps, classes = log_probs.shape
    trie = _Trie(samples, classes)
    beams = _Beams.start(samples, beam_width)
    for step in range(min(total_steps, int(np.max(lengths, initial=0)))):
        stay_blank, stay_symbol, extend = _extensions(beams, log_probs[:, step, :].astype(np.float64))
        beams = _advance(beams, stay_blank, stay_symbol, extend, (step < lengths)[:, np.newaxis], trie)
    final = np.logaddexp(beams.blank_score, beams.symbol_score)
    result = []
    for row in range(samples):
        order = np.argsort(-final[row], kind="stable")
        nodes = beams.node[row]
        result.append([(trie.labels(int(nodes[slot])), float(final[row, slot])) for slot in order if nodes[slot] >= 0])
    return result


def _extensions(beams: _Beams, step_log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One more step's scores: of each prefix staying as it is, ending in a blank and in its symbol,
    (samples, width) each, and of each extension by a symbol, (samples, width, classes - 1). An extension
    that is already in the beam is merged into that entry, and is -inf among the extensions."""
    blank_score, symbol_score = beams.blank_score, beams.symbol_score
    node, parent, last = beams.node, beams.parent, beams.last
    symbols = np.arange(1, step_log_probs.shape[1])
    total = np.logaddexp(blank_score, symbol_score)
    stay_blank = total + step_log_probs[:, BLANK, np.newaxis]
    stay_symbol = symbol_score + np.take_along_axis(step_log_probs, last, axis=1)
    # Extending by the prefix's own last symbol needs a blank in between.
    from_score = np.where(last[:, :, np.newaxis] == symbols, blank_score[:, :, np.newaxis], total[:, :, np.newaxis])
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
) -> _Beams:
    """The ``width`` best of the stayed and extended prefixes; a sample past its length (not ``active``)
    keeps its beam. A new prefix gets its trie node here."""
    samples, width = beams.node.shape
    classes = extend.shape[2] + 1
    sample_index = np.arange(samples)[:, np.newaxis]
    candidates = np.concatenate([np.logaddexp(stay_blank, stay_symbol), extend.reshape(samples, -1)], axis=1)
    chosen = np.argpartition(-candidates, width - 1, axis=1)[:, :width]
    chosen_score = np.take_along_axis(candidates, chosen, axis=1)
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
    """CTC prefix beam search; returns the best final prefix, its confidence by the forward algorithm."""

    name = "beam"

    def __init__(
        self, charset: Charset, *, beam_width: int = 10, allow: str | None = None, block: str | None = None
    ) -> None:
        if beam_width < 1:
            raise ConfigError(f"beam width must be at least 1, got {beam_width}")
        self.charset = charset
        self.beam_width = beam_width
        self.allowed = allowed_classes(charset, allow, block)

    def decode(self, log_probs: np.ndarray, lengths: np.ndarray, names: Sequence[str] | None = None) -> list[Decoded]:
        log_probs, lengths = check_shapes(log_probs, lengths, self.charset)
        beams = prefix_beam_search(log_probs, lengths, self.beam_width, self.allowed)
        labels = [list(beam[0][0]) if beam else [] for beam in beams]
        return decoded_batch(self.charset, log_probs, lengths, labels)
