import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import DecoderOptions, GreedyDecoder, Lexicon, ctc, make_decoder
from ctc_reference import brute_force_distribution, random_log_probs

CHARSET = Charset.from_string("ab")  # classes: 0 blank, 1 'a', 2 'b'


def _log_probs(path: list[int], confidence: float = 0.9) -> np.ndarray:
    """One sample whose best class at step t is path[t] with probability ``confidence``."""
    probs = np.full((len(path), 3), (1 - confidence) / 2)
    probs[np.arange(len(path)), path] = confidence
    return np.log(probs)[np.newaxis]


def test_repeats_merge_blanks_separate_and_vanish() -> None:
    # a a _ a b b _  ->  "aab": a blank between two a's keeps both (a double letter).
    result = GreedyDecoder(CHARSET).decode(_log_probs([1, 1, 0, 1, 2, 2, 0]), np.array([7]))[0]
    assert result.text == "aab"
    assert len(result.char_probs) == 3
    assert not result.flagged


def test_steps_past_the_length_are_ignored() -> None:
    decoded = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2, 2]), np.array([2]))[0]
    assert decoded.text == "a"


def test_confidence_is_the_probability_of_the_text_over_all_alignments() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05]])
    decoded = GreedyDecoder(CHARSET).decode(np.log(probs)[np.newaxis], np.array([4]))[0]
    assert decoded.text == "a"
    exact = brute_force_distribution(np.log(probs), 4)[(1,)]
    assert decoded.confidence == pytest.approx(exact)
    assert decoded.confidence > 0.6 * 0.7 * 0.8 * 0.9  # more than the best path alone
    assert decoded.char_probs == pytest.approx((0.8,))  # the character's best step on the best path


def test_empty_and_batched() -> None:
    log_probs = np.concatenate([_log_probs([0, 0, 0]), _log_probs([2, 0, 1])])
    first, second = GreedyDecoder(CHARSET).decode(log_probs, np.array([3, 3]))
    assert (first.text, second.text) == ("", "ba")
    assert first.confidence == pytest.approx(0.9**3)  # the only alignment of "" is all blanks
    zero = GreedyDecoder(CHARSET).decode(_log_probs([1]), np.array([0]))[0]
    assert (zero.text, zero.confidence) == ("", 0.0)


def test_bad_shapes_names_and_options_are_refused() -> None:
    decoder = make_decoder("greedy", CHARSET)
    with pytest.raises(ValueError, match="classes"):
        decoder.decode(np.zeros((1, 3, 5)), np.array([3]))
    with pytest.raises(ValueError, match="lengths"):
        decoder.decode(np.zeros((1, 3, 3)), np.array([4]))
    with pytest.raises(ValueError, match="unknown decoder"):
        make_decoder("oracle", CHARSET)
    with pytest.raises(ValueError, match="lexicon decoder"):
        make_decoder("greedy", CHARSET, DecoderOptions(lexicon=["ab"]))
    with pytest.raises(ValueError, match="needs a lexicon"):
        make_decoder("lexicon", CHARSET)
    with pytest.raises(ValueError, match="leave none"):
        make_decoder("beam", CHARSET, DecoderOptions(allow="xyz"))
    with pytest.raises(ValueError, match="spelled for"):
        make_decoder("lexicon", CHARSET, DecoderOptions(lexicon=Lexicon(["abc"], Charset.from_string("abc"))))


def test_confidence_falls_when_a_step_is_unsure() -> None:
    sure = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2], 0.99), np.array([3]))[0]
    unsure = GreedyDecoder(CHARSET).decode(_log_probs([1, 0, 2], 0.5), np.array([3]))[0]
    assert sure.text == unsure.text == "ab"
    assert sure.confidence > unsure.confidence
    assert unsure.confidence == pytest.approx(brute_force_distribution(_log_probs([1, 0, 2], 0.5)[0], 3)[(1, 2)])


def test_every_decoder_gives_the_same_confidence_for_the_same_text(rng) -> None:
    """One confidence: P(text | image) does not depend on which decoder found the text."""
    log_probs = np.concatenate([_log_probs([1, 1, 0, 2, 0, 1], 0.8), _log_probs([2, 0, 2, 2, 1, 0], 0.7)])
    lengths = np.array([6, 6])
    options = DecoderOptions(lexicon=["aba", "bba", "bab"], beam_width=20)
    results = [
        make_decoder(name, CHARSET, None if name != "lexicon" else options).decode(log_probs, lengths)
        for name in ("greedy", "beam", "lexicon")
    ]
    for greedy, beam, lexicon in zip(*results, strict=True):
        assert greedy.text == beam.text == lexicon.text
        assert greedy.confidence == pytest.approx(beam.confidence, rel=1e-9)
        assert greedy.confidence == pytest.approx(lexicon.confidence, rel=1e-9)
        assert greedy.char_probs == pytest.approx(beam.char_probs, rel=1e-6)
        assert greedy.char_probs == pytest.approx(lexicon.char_probs, rel=1e-6)


def test_allow_and_block_hold_for_greedy_and_confidence_stays_the_models(rng) -> None:
    charset = Charset.from_string("ab12")
    log_probs = random_log_probs(rng, (16, 8, 5), sharpness=2.0)
    lengths = np.full(16, 8)
    digits = GreedyDecoder(charset, allow="0123456789").decode(log_probs, lengths)
    letters = GreedyDecoder(charset, block="12").decode(log_probs, lengths)
    assert all(set(d.text) <= {"1", "2"} for d in digits) and any(d.text for d in digits)
    assert all(set(d.text) <= {"a", "b"} for d in letters) and any(d.text for d in letters)
    unconstrained = GreedyDecoder(charset).decode(log_probs, lengths)
    assert any(set(d.text) & {"a", "b"} for d in unconstrained)  # the constraint did change something
    # The constraint picks the text; its confidence is still what the unconstrained model gives that text.
    labels, label_lengths = ctc.pad_labels([charset.encode(d.text) for d in digits])
    np.testing.assert_allclose(
        [d.confidence for d in digits], np.exp(ctc.log_likelihood(log_probs, lengths, labels, label_lengths)), rtol=1e-9
    )


def test_the_decoder_a_request_means_whether_named_or_not() -> None:
    """One rule for the command line and the service: a decoder named is used; else a lexicon means the
    lexicon decoder, a word prior beam search, nothing the caller's default."""
    from crnn_ctc.decode import chosen_decoder

    assert chosen_decoder(None, lexicon=False, word_prior=False, default="auto") == "auto"
    assert chosen_decoder(None, lexicon=True, word_prior=False, default="greedy") == "lexicon"
    assert chosen_decoder(None, lexicon=False, word_prior=True, default="auto") == "beam"
    assert chosen_decoder("greedy", lexicon=True, word_prior=False, default="auto") == "greedy"
