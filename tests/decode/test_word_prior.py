"""The word prior: token scores, their optimistic partial scores, word lists, and beam search with the
prior against brute-force enumeration of every labelling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import (
    BeamSearchDecoder,
    DecoderOptions,
    WordListError,
    WordPrior,
    WordPriorSettings,
    make_decoder,
    prefix_beam_search,
)
from crnn_ctc.errors import ConfigError
from ctc_reference import brute_force_distribution, random_log_probs

SETTINGS = WordPriorSettings(weight=0.5, bonus=1.0)
FREQUENCIES = {"the": 50.0, "then": 5.0, "a": 30.0, "ab": 4.0, "b": 2.0, "well": 3.0, "known": 3.0, "don't": 2.0}


@pytest.fixture(scope="module")
def prior() -> WordPrior:
    return WordPrior(FREQUENCIES, SETTINGS)


def test_a_listed_word_scores_its_frequency_in_any_usual_case(prior) -> None:
    the = 0.5 * math.log(50 / sum(FREQUENCIES.values())) + 1.0
    for token in ("the", "The", "THE", '"The', "(the),", "the."):
        assert prior.token_score(token) == pytest.approx(the)
    assert prior.token_score("tHe") == pytest.approx(the + 0.5 * math.log(SETTINGS.mixed_case))
    mixed = 0.5 * math.log(SETTINGS.mixed_case)
    for usual in ("OpenType", "Build-Depends", "non-European", "O'Neil", "I"):  # each part in a usual case
        assert prior.token_score(usual) - prior.token_score(usual.lower()) == 0.0, usual
    for unusual in ("THe", "heLlo", "Well-kNown"):
        assert prior.token_score(unusual) - prior.token_score(unusual.lower()) == pytest.approx(mixed), unusual


def test_tokens_that_are_no_listed_word_cost_their_kind_and_length(prior) -> None:
    per_symbol = 0.5 * math.log(SETTINGS.per_symbol)
    assert prior.token_score("tbe") == pytest.approx(0.5 * math.log(SETTINGS.unknown) + 3 * per_symbol + 1.0)
    assert prior.token_score("2026") == pytest.approx(0.5 * math.log(SETTINGS.number) + 4 * per_symbol + 1.0)
    assert prior.token_score("$12.99") == pytest.approx(0.5 * math.log(SETTINGS.number) + 6 * per_symbol + 1.0)
    assert prior.token_score("A4") == pytest.approx(0.5 * math.log(SETTINGS.other) + 2 * per_symbol + 1.0)
    assert prior.token_score("&") == pytest.approx(0.5 * math.log(SETTINGS.symbol) + per_symbol + 1.0)
    assert prior.token_score("...") == pytest.approx(0.5 * math.log(SETTINGS.symbol) + 1.0)  # closing only
    # Glued tokens cost more than the words apart, so the prior does not eat the spaces the image shows.
    assert prior.token_score("thea") < prior.token_score("the") + prior.token_score("a")
    assert prior.token_score("2026the") < prior.token_score("2026") + prior.token_score("the")


def test_compounds_and_apostrophes_read_as_words(prior) -> None:
    assert prior.token_score("well-known") == pytest.approx(0.5 * (math.log(3 / sum(FREQUENCIES.values())) * 2) + 1.0)
    assert prior.token_score("don't") > prior.token_score("dont")
    # A word broken at a line's end keeps its hyphen at no cost: "the-" is "the", not a period's "the.".
    assert prior.token_score("the-") == prior.token_score("the.") == prior.token_score("the")


def test_the_partial_score_never_underestimates_a_finished_token(prior) -> None:
    """Beam search ranks unfinished prefixes by the partial score: it must bound every completion's score."""
    tokens = [*FREQUENCIES, "The", "THEN", "tbe", "2026", "A4", "well-kno", "don't", '"ab",', "x-ray", "$1.5",
              "OpenType", "THe", "Well-kNown", "hyph-"]  # fmt: skip
    for token in tokens:
        final = prior.token_score(token) - SETTINGS.bonus
        for end in range(1, len(token) + 1):
            assert prior.partial_score(token[:end]) >= final - 1e-9, (token, token[:end])


def test_a_word_list_file_with_counts_and_its_errors(tmp_path) -> None:
    good = tmp_path / "words.txt"
    good.write_text("the\t10\nThe 5\n\ncat\n", encoding="utf-8")
    prior = WordPrior.read(good, SETTINGS)
    assert len(prior) == 2
    assert prior.log_prob("THE") == pytest.approx(math.log(15 / 16))
    bad = tmp_path / "bad.txt"
    bad.write_text("the 10\ncat many\n", encoding="utf-8")
    with pytest.raises(WordListError, match=r"bad\.txt:2: the count 'many'"):
        WordPrior.read(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("123\n!!\n", encoding="utf-8")
    with pytest.raises(WordListError, match=r"empty\.txt: the word list holds no word"):
        WordPrior.read(empty)
    with pytest.raises(WordListError, match="cannot read"):
        WordPrior.read(tmp_path / "missing.txt")


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="weight"):
        WordPriorSettings(weight=-1)
    with pytest.raises(ConfigError, match="unknown probability"):
        WordPriorSettings(unknown=0)


CHARSET = Charset.from_string("ab ")  # classes: 0 blank, 1 'a', 2 'b', 3 ' '
SMALL = WordPrior({"ab": 8.0, "b": 1.0, "a": 1.0}, WordPriorSettings(weight=1.0, bonus=0.5))


@pytest.mark.parametrize("seed", range(4))
def test_unpruned_beam_with_the_prior_is_the_exact_best_of_model_and_prior(seed) -> None:
    """Beam width >= the number of prefixes: every labelling scored log P(text | image) + the prior's score
    of the text, and the best one first; brute force over every path gives the same."""
    rng = np.random.default_rng(seed)
    log_probs = random_log_probs(rng, (2, 5, 4), sharpness=0.8)
    assert log_probs.min() > -10  # every symbol is tried at every step (SYMBOL_FLOOR)
    lengths = np.array([5, 4])
    extensions = SMALL.extensions(CHARSET.symbols)
    beams = prefix_beam_search(log_probs, lengths, beam_width=500, extensions=extensions)
    for row, beam in enumerate(beams):
        exact = {
            labels: math.log(p) + SMALL.text_score(CHARSET.decode(list(labels)))
            for labels, p in brute_force_distribution(log_probs[row], int(lengths[row])).items()
        }
        assert {labels for labels, _ in beam} == set(exact)
        for labels, score in beam:
            assert score == pytest.approx(exact[labels], rel=1e-9)
        assert beam[0][0] == max(exact, key=exact.__getitem__)


def test_the_prior_turns_a_near_miss_into_the_word() -> None:
    """An image read 'tbe' by a hair over 'the': the prior tips it; the confidence stays the model's."""
    charset = Charset.from_string("beht ")
    steps = [{"t": 0.9}, {"b": 0.5, "h": 0.45}, {"e": 0.9}]
    log_probs = np.full((1, len(steps), charset.num_classes), math.log(1e-3), dtype=np.float32)
    for step, choices in enumerate(steps):
        for symbol, probability in choices.items():
            log_probs[0, step, charset.encode(symbol)[0]] = math.log(probability)
    log_probs -= np.logaddexp.reduce(log_probs, axis=2, keepdims=True)
    lengths = np.array([len(steps)])
    plain = BeamSearchDecoder(charset, beam_width=10).decode(log_probs, lengths)[0]
    words = BeamSearchDecoder(charset, beam_width=10, word_prior=WordPrior(FREQUENCIES)).decode(log_probs, lengths)[0]
    assert (plain.text, words.text) == ("tbe", "the")
    assert words.confidence < plain.confidence  # P(text | image) of the chosen text, without the prior


def test_only_the_beam_decoder_takes_a_word_prior(prior) -> None:
    charset = Charset.from_string("ab ")
    decoder = make_decoder("beam", charset, DecoderOptions(word_prior=prior))
    assert isinstance(decoder, BeamSearchDecoder) and decoder.word_prior is prior
    with pytest.raises(ConfigError, match="greedy decoder does not use one"):
        make_decoder("greedy", charset, DecoderOptions(word_prior=prior))
    with pytest.raises(ConfigError, match="without a word prior"):
        make_decoder("beam", charset, DecoderOptions(prior_weight=0.3))


def test_a_word_list_file_through_the_decoder_options(tmp_path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("ab 3\nb\n", encoding="utf-8")
    options = DecoderOptions(word_prior=words, prior_weight=0.7, prior_bonus=0.0)
    decoder = make_decoder("beam", CHARSET, options)
    assert isinstance(decoder, BeamSearchDecoder) and decoder.word_prior is not None
    assert decoder.word_prior.settings == WordPriorSettings(weight=0.7, bonus=0.0)
    assert make_decoder("beam", CHARSET, options).word_prior is decoder.word_prior  # loaded once


def test_wordfreqs_table_is_cached_read_back_and_rebuilt_when_unreadable(tmp_path, monkeypatch) -> None:
    """The default decoder loads the prior on the first unsure reading: from the cache, not rebuilt."""
    from crnn_ctc.decode import word_prior

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(word_prior, "wordfreq_frequencies", lambda size: dict(FREQUENCIES))
    built = word_prior.wordfreq_table(100)
    (cached,) = (tmp_path / "crnn-ctc").glob("word-prior-v*/wordfreq-*-en-100.npz")

    def not_again(size: int) -> dict[str, float]:
        raise AssertionError("the cached table was built again")

    monkeypatch.setattr(word_prior, "wordfreq_frequencies", not_again)
    read = word_prior.wordfreq_table(100)
    assert read.words == built.words and np.array_equal(read.log_probs, built.log_probs)
    assert WordPrior(read, SETTINGS).token_score("then") == WordPrior(FREQUENCIES, SETTINGS).token_score("then")
    cached.write_bytes(b"not a table")
    monkeypatch.setattr(word_prior, "wordfreq_frequencies", lambda size: {"the": 1.0, "cat": 1.0})
    assert word_prior.wordfreq_table(100).words == ["cat", "the"]  # rebuilt, and cached again
    assert word_prior.WordTable.load(cached).words == ["cat", "the"]
