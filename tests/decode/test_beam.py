"""CTC prefix beam search against brute-force enumeration of every label sequence."""

from __future__ import annotations

import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import BeamSearchDecoder, ctc, prefix_beam_search
from ctc_reference import brute_force_distribution, random_log_probs

CHARSET = Charset.from_string("ab")  # classes: 0 blank, 1 'a', 2 'b'


@pytest.mark.parametrize("seed", range(4))
def test_unpruned_beam_is_the_exact_distribution_over_labellings(seed) -> None:
    """Beam width >= the number of prefixes: every labelling, with exactly its probability, best first."""
    rng = np.random.default_rng(seed)
    log_probs = random_log_probs(rng, (3, 6, 3), sharpness=1.0 + seed)
    lengths = np.array([6, 4, 1])
    beams = prefix_beam_search(log_probs, lengths, beam_width=200)
    for row, beam in enumerate(beams):
        exact = brute_force_distribution(log_probs[row], int(lengths[row]))
        assert {labels for labels, _ in beam} == set(exact)
        for labels, log_probability in beam:
            assert np.exp(log_probability) == pytest.approx(exact[labels], rel=1e-9, abs=1e-15)
        scores = [score for _, score in beam]
        assert scores == sorted(scores, reverse=True)
        assert beam[0][0] == max(exact, key=exact.__getitem__)


def test_pruned_beams_hold_distinct_prefixes_with_lower_bounds(rng) -> None:
    log_probs = random_log_probs(rng, (4, 7, 4), sharpness=1.5)
    lengths = np.array([7, 7, 5, 3])
    for width in (1, 2, 5):
        for row, beam in enumerate(prefix_beam_search(log_probs, lengths, beam_width=width)):
            assert 1 <= len(beam) <= width
            labellings = [labels for labels, _ in beam]
            assert len(set(labellings)) == len(labellings)
            padded, label_lengths = ctc.pad_labels([list(labels) for labels in labellings])
            exact = ctc.log_likelihood(log_probs, lengths, padded, label_lengths, np.full(len(beam), row))
            # Pruning loses alignments through dropped prefixes, never adds any.
            assert all(score <= value + 1e-9 for (_, score), value in zip(beam, exact, strict=True))


def test_decoder_returns_the_most_probable_text_and_its_exact_probability(rng) -> None:
    log_probs = random_log_probs(rng, (5, 6, 3), sharpness=1.2)
    lengths = np.array([6, 6, 5, 2, 0])
    decoded = BeamSearchDecoder(CHARSET, beam_width=100).decode(log_probs, lengths)
    for row, result in enumerate(decoded[:4]):
        exact = brute_force_distribution(log_probs[row], int(lengths[row]))
        best = max(exact, key=exact.__getitem__)
        assert result.text == CHARSET.decode(list(best))
        assert result.confidence == pytest.approx(exact[best], rel=1e-6)
        assert len(result.char_probs) == len(result.text)
    assert (decoded[4].text, decoded[4].confidence) == ("", 0.0)


def test_beam_finds_what_greedy_misses() -> None:
    """Two steps split between 'a' and blank: best path is blank-blank, but "a" is more probable overall."""
    probs = np.array([[0.4, 0.3, 0.3], [0.4, 0.3, 0.3]])
    log_probs = np.log(probs)[np.newaxis]
    decoded = BeamSearchDecoder(CHARSET, beam_width=10).decode(log_probs, np.array([2]))[0]
    # P("") = 0.16; P("a") = 0.3*0.3 + 0.3*0.4 + 0.4*0.3 = 0.33, the same for "b".
    assert decoded.text in ("a", "b")
    assert decoded.confidence == pytest.approx(0.33)


def test_allow_and_block_restrict_the_symbols(rng) -> None:
    log_probs = random_log_probs(rng, (8, 6, 3), sharpness=2.0)
    lengths = np.full(8, 6)
    only_b = BeamSearchDecoder(CHARSET, beam_width=50, allow="b").decode(log_probs, lengths)
    no_b = BeamSearchDecoder(CHARSET, beam_width=50, block="b").decode(log_probs, lengths)
    assert all(set(d.text) <= {"b"} for d in only_b)
    assert all(set(d.text) <= {"a"} for d in no_b)
    assert any(d.text for d in only_b) and any(d.text for d in no_b)
    # The constrained answer is the most probable labelling over 'b' alone, scored by the unconstrained model.
    exact = brute_force_distribution(log_probs[0], 6)
    best_b = max((labels for labels in exact if set(labels) <= {2}), key=exact.__getitem__)
    assert only_b[0].text == "b" * len(best_b)
    assert only_b[0].confidence == pytest.approx(exact[best_b], rel=1e-6)
    with pytest.raises(ValueError, match="beam width"):
        BeamSearchDecoder(CHARSET, beam_width=0)


def test_a_symbol_may_follow_itself_without_a_blank_only_at_the_repeat_penalty() -> None:
    """Two steps of 'a' with no blank between: CTC reads ``a``; with a repeat penalty the beam also holds
    ``aa``, scored as the path a|a times the penalty, which a word prior can then prefer."""
    probs = np.array([[0.05, 0.9, 0.05], [0.05, 0.9, 0.05]])
    log_probs = np.log(probs)[np.newaxis]
    plain = dict(prefix_beam_search(log_probs, np.array([2]), 5)[0])
    assert plain.get((1, 1), -np.inf) == -np.inf  # no alignment reads two a's
    penalty = np.log(0.1)
    repeated = dict(prefix_beam_search(log_probs, np.array([2]), 5, repeat_penalty=penalty)[0])
    assert repeated[(1, 1)] == pytest.approx(np.log(0.9 * 0.9 * 0.1), rel=1e-6)
    assert repeated[(1,)] == pytest.approx(plain[(1,)])  # the single letter's score is unchanged
