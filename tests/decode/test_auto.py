"""The auto decoder: greedy readings the model is sure of stay, the others are read again by beam search
with the word prior, which is built only when a reading needs it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import (
    GREEDY_ABOVE,
    AutoDecoder,
    BeamSearchDecoder,
    DecoderOptions,
    GreedyDecoder,
    WordPrior,
    make_decoder,
)
from crnn_ctc.decode.auto import reads_english
from crnn_ctc.errors import ConfigError
from ctc_reference import random_log_probs

FREQUENCIES = {"the": 50.0, "then": 5.0, "a": 30.0, "ab": 4.0, "b": 2.0}
CHARSET = Charset.from_string("abehnt ")


def _images(*rows: list[dict[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Log-probs of images whose steps give these symbols these probabilities (the rest shared out)."""
    steps = max(len(row) for row in rows)
    log_probs = np.full((len(rows), steps, CHARSET.num_classes), math.log(1e-3), dtype=np.float32)
    for sample, row in enumerate(rows):
        for step, choices in enumerate(row):
            for symbol, probability in choices.items():
                log_probs[sample, step, CHARSET.encode(symbol)[0]] = math.log(probability)
    log_probs -= np.logaddexp.reduce(log_probs, axis=2, keepdims=True)
    return log_probs, np.array([len(row) for row in rows])


class CountingPrior:
    """A word prior factory that counts how often it is asked to build the prior."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> WordPrior:
        self.calls += 1
        return WordPrior(FREQUENCIES)


def test_only_unsure_readings_are_read_again_with_the_prior() -> None:
    sure = [{"t": 0.99}, {"h": 0.99}, {"e": 0.99}, {"n": 0.99}]  # "then", no doubt
    unsure = [{"t": 0.9}, {"b": 0.5, "h": 0.45}, {"e": 0.9}]  # "tbe" by a hair over "the"
    log_probs, lengths = _images(sure, unsure)
    factory = CountingPrior()
    decoder = AutoDecoder(CHARSET, word_prior=factory)
    greedy = GreedyDecoder(CHARSET).decode(log_probs, lengths)
    results = decoder.decode(log_probs, lengths)
    assert [r.text for r in greedy] == ["then", "tbe"] and greedy[0].confidence >= GREEDY_ABOVE > greedy[1].confidence
    assert [r.text for r in results] == ["then", "the"]
    assert results[0] == greedy[0]  # the sure reading is the greedy one, confidence and all
    beam = BeamSearchDecoder(CHARSET, word_prior=WordPrior(FREQUENCIES)).decode(log_probs[1:], lengths[1:])[0]
    assert results[1] == beam  # the unsure one is the beam's, with its P(text | image)
    assert factory.calls == 1


def test_the_word_prior_is_built_only_when_a_reading_needs_it() -> None:
    log_probs, lengths = _images([{"a": 0.99}, {"b": 0.99}])
    factory = CountingPrior()
    decoder = AutoDecoder(CHARSET, word_prior=factory)
    assert decoder.decode(log_probs, lengths)[0].text == "ab"
    assert factory.calls == 0
    decoder.decode(*_images([{"a": 0.5, "b": 0.4}]))
    decoder.decode(*_images([{"a": 0.5, "b": 0.4}]))
    assert factory.calls == 1  # built once, then kept


@pytest.mark.parametrize("seed", range(3))
def test_at_the_ends_of_the_threshold_it_is_greedy_or_the_beam_with_the_prior(seed: int) -> None:
    rng = np.random.default_rng(seed)
    log_probs, lengths = random_log_probs(rng, (6, 7, CHARSET.num_classes)), rng.integers(0, 8, size=6)
    prior = WordPrior(FREQUENCIES)
    greedy = GreedyDecoder(CHARSET).decode(log_probs, lengths)
    beam = BeamSearchDecoder(CHARSET, word_prior=prior).decode(log_probs, lengths)
    assert AutoDecoder(CHARSET, word_prior=lambda: prior, greedy_above=0.0).decode(log_probs, lengths) == greedy
    everything = AutoDecoder(CHARSET, word_prior=lambda: prior, greedy_above=1.0).decode(log_probs, lengths)
    assert everything == [b if g.confidence < 1.0 else g for g, b in zip(greedy, beam, strict=True)]
    assert sum(g.confidence < 1.0 for g in greedy) >= 5  # (an empty reading of no steps is sure)


def test_make_decoder_uses_english_words_only_for_a_charset_that_spells_them(tmp_path) -> None:
    english = Charset.preset("lower-alnum")
    digits = Charset.from_string("0123456789")
    assert reads_english(english) and reads_english(Charset.preset("printable")) and not reads_english(digits)
    auto = make_decoder("auto", english)
    assert isinstance(auto, AutoDecoder) and auto.greedy_above == GREEDY_ABOVE
    digits_only = make_decoder("auto", digits)
    assert isinstance(digits_only, AutoDecoder) and digits_only.beam is None  # greedy alone
    log_probs, lengths = random_log_probs(np.random.default_rng(0), (4, 6, digits.num_classes)), np.full(4, 6)
    assert digits_only.decode(log_probs, lengths) == GreedyDecoder(digits).decode(log_probs, lengths)
    # A word list of one's own applies whatever the charset.
    words = tmp_path / "words.txt"
    words.write_text("one\n", encoding="utf-8")
    named = make_decoder("auto", digits, DecoderOptions(word_prior=words, greedy_above=0.5))
    assert isinstance(named, AutoDecoder) and named.beam is not None and named.greedy_above == 0.5


def test_bad_auto_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="lexicon decoder"):
        make_decoder("auto", CHARSET, DecoderOptions(lexicon=["the"]))
    with pytest.raises(ConfigError, match="greedy-above"):
        make_decoder("auto", CHARSET, DecoderOptions(greedy_above=1.5))
