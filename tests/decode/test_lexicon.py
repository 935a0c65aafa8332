"""Lexicon search: BK-tree against a linear scan, search against exhaustive scoring, spelling, per-image lexicons."""

from __future__ import annotations

import numpy as np
import pytest
from rapidfuzz.distance import Levenshtein

from crnn_ctc.charset import Charset
from crnn_ctc.decode import BKTree, ImageLexicons, Lexicon, LexiconDecoder, LexiconError, ctc
from crnn_ctc.decode.lexicon_search import _refined_bounds, _symbol_set_bounds
from ctc_reference import random_log_probs

CHARSET = Charset.preset("lower-alnum")


def _random_words(rng: np.random.Generator, count: int, alphabet: str = "abcde", longest: int = 7) -> list[str]:
    return ["".join(rng.choice(list(alphabet), size=rng.integers(1, longest + 1))) for _ in range(count)]


def _reading(rng: np.random.Generator, words: list[str], steps: int = 16, sharpness: float = 5.0) -> np.ndarray:
    """Log-probabilities that read each word, roughly: its symbols on spread steps, blanks between, noise."""
    logits = rng.normal(0, 1.0, size=(len(words), steps, CHARSET.num_classes))
    for row, word in enumerate(words):
        positions = np.sort(rng.choice(np.arange(0, steps, 2), size=len(word), replace=False))
        classes = np.zeros(steps, dtype=np.int64)
        classes[positions] = CHARSET.encode(word)
        logits[row, np.arange(steps), classes] += sharpness
    return (logits - np.logaddexp.reduce(logits, axis=2, keepdims=True)).astype(np.float32)


def _linear_scan(words: list[str], query: str, distance: int) -> list[int]:
    return [index for index, word in enumerate(words) if Levenshtein.distance(word, query) <= distance]


@pytest.mark.parametrize("distance", [0, 1, 2, 3])
def test_bktree_queries_equal_a_linear_scan(rng, distance) -> None:
    words = [*_random_words(rng, 600), "", "abc", "abc"]  # the empty word and a duplicate too
    tree = BKTree(words)
    queries = [*_random_words(rng, 30), "", "abcdeabcdeabcde", "zz"]
    for query, (found, distances) in zip(queries, tree.within(queries, distance), strict=True):
        expected = _linear_scan(words, query, distance)
        assert found.tolist() == expected
        assert distances.tolist() == [Levenshtein.distance(words[i], query) for i in expected]


def test_both_lexicon_indexes_give_the_same_neighbours(rng) -> None:
    words = _random_words(rng, 400, alphabet="abc123")
    queries = _random_words(rng, 20, alphabet="abc123")
    scan, tree = Lexicon(words, CHARSET, index="scan"), Lexicon(words, CHARSET, index="bktree")
    for distance in (1, 3):
        for a, b in zip(scan.within(queries, distance), tree.within(queries, distance), strict=True):
            assert a.words.tolist() == b.words.tolist() and a.distances.tolist() == b.distances.tolist()
    assert tree._tree is not None and scan._tree is None  # the scan never builds a tree
    assert Lexicon(words * 30, CHARSET).uses_tree(1) is False  # small lexicon: scanning needs no build
    with pytest.raises(ValueError, match="index"):
        Lexicon(words, CHARSET, index="trie")  # type: ignore[arg-type]


def _exhaustive(lexicon: Lexicon, log_probs: np.ndarray, lengths: np.ndarray, row: int, words: np.ndarray) -> str:
    labels, label_lengths = lexicon.labels(words)
    scores = ctc.log_likelihood(log_probs, lengths, labels, label_lengths, np.full(len(words), row))
    return lexicon.words[int(words[np.argmax(scores)])]


@pytest.mark.parametrize("distance", [1, 3])
def test_lexicon_search_equals_exhaustive_scoring(rng, distance) -> None:
    """Branch and bound must return what scoring every candidate within the distance returns."""
    lexicon = Lexicon(_random_words(rng, 300, alphabet="abcdef", longest=6), CHARSET)
    shown = [lexicon.words[i] for i in rng.integers(len(lexicon), size=40)]
    shown = [w if rng.random() < 0.5 else w[:-1] + "f" for w in shown]  # half misread
    log_probs = _reading(rng, shown)
    lengths = rng.integers(12, 17, size=len(shown))
    decoder = LexiconDecoder(CHARSET, lexicon, max_edit_distance=distance, full_search_limit=0)
    decoded = decoder.decode(log_probs, lengths)
    greedy = decoder._greedy.decode(log_probs, lengths)
    searched = 0
    for row, (result, guess) in enumerate(zip(decoded, greedy, strict=True)):
        near = np.array(_linear_scan(lexicon.words, guess.text, distance), dtype=np.int64)
        near = near[lexicon.steps_needed[near] <= lengths[row]]
        if not len(near):
            assert result.flagged and result.text == guess.text
            assert result.confidence == pytest.approx(guess.confidence)
            continue
        searched += 1
        assert not result.flagged
        assert result.text == _exhaustive(lexicon, log_probs, lengths, row, near)
        labels, label_lengths = lexicon.labels(np.array([lexicon.words.index(result.text)]))
        exact = ctc.log_likelihood(log_probs, lengths, labels, label_lengths, np.array([row]))[0]
        assert result.confidence == pytest.approx(np.exp(exact), rel=1e-9)
    assert searched >= 20


def test_bounds_are_upper_bounds(rng) -> None:
    lexicon = Lexicon(_random_words(rng, 200, alphabet="abcd", longest=5), CHARSET)
    log_probs = np.concatenate([_reading(rng, ["abca", "dd", "bad"]), random_log_probs(rng, (2, 16, 37), 1.0)])
    lengths = np.array([16, 12, 9, 16, 5])
    rows = np.repeat(np.arange(5), len(lexicon))
    words = np.tile(np.arange(len(lexicon)), 5)
    labels, label_lengths = lexicon.labels(words)
    exact = ctc.log_likelihood(log_probs, lengths, labels, label_lengths, rows)
    probs = np.exp(log_probs)
    steps = np.arange(16) < lengths[:, np.newaxis]
    log_mass, mass = _symbol_set_bounds(probs, steps, rows, labels)
    refined = _refined_bounds(probs, steps, rows, labels, label_lengths, log_mass, mass)
    assert np.all(log_mass + 1e-3 >= exact) and np.all(refined + 1e-3 >= exact)
    assert np.all(refined <= log_mass + 1e-9)
    assert np.mean(refined < log_mass - 1.0) > 0.3  # and the refinement does tighten


def test_no_neighbour_searches_a_small_lexicon_in_full_else_flags_the_greedy_text(rng) -> None:
    words = ["kitten", "sitting", "mitten"]
    log_probs = _reading(rng, ["xyz"], steps=16)
    lengths = np.array([16])
    full = LexiconDecoder(CHARSET, Lexicon(words, CHARSET), max_edit_distance=1).decode(log_probs, lengths)[0]
    lexicon = Lexicon(words, CHARSET)
    assert full.text == _exhaustive(lexicon, log_probs, lengths, 0, np.arange(3)) and not full.flagged
    capped = LexiconDecoder(CHARSET, lexicon, max_edit_distance=1, full_search_limit=2).decode(log_probs, lengths)[0]
    assert capped.flagged and capped.text == "xyz"


def test_lexicon_words_are_spelled_in_the_charset(tmp_path) -> None:
    lexicon = Lexicon(["HELLO", "Don't", "hello", "  street ", "", "café", "!!"], CHARSET)
    assert lexicon.words == ["hello", "dont", "street", "caf"]
    assert lexicon.steps_needed.tolist() == [6, 4, 7, 3]  # a blank between the two l's, the two e's
    cased = Lexicon(["HELLO", "hello"], Charset.preset("alnum"))
    assert cased.words == ["HELLO", "hello"]
    path = tmp_path / "words.txt"
    path.write_text("Alpha\nbeta\n\ngamma\n", encoding="utf-8")
    assert Lexicon.read(path, CHARSET).words == ["alpha", "beta", "gamma"]
    path.write_text("!!!\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="no word"):
        Lexicon.read(path, CHARSET)
    with pytest.raises(LexiconError, match="cannot read"):
        Lexicon.read(tmp_path / "missing.txt", CHARSET)


def test_allow_and_block_exclude_words_and_words_too_long_never_win(rng) -> None:
    lexicon = Lexicon(["road", "r0ad", "roads", "toad"], CHARSET)
    log_probs = _reading(rng, ["road"], steps=12)
    lengths = np.array([12])
    assert LexiconDecoder(CHARSET, lexicon).decode(log_probs, lengths)[0].text == "road"
    assert LexiconDecoder(CHARSET, lexicon, block="d").decode(log_probs, lengths)[0].flagged
    assert LexiconDecoder(CHARSET, lexicon, allow="r0ad").decode(log_probs, lengths)[0].text == "r0ad"
    assert LexiconDecoder(CHARSET, lexicon, block="r").decode(log_probs, lengths)[0].text == "toad"
    assert LexiconDecoder(CHARSET, Lexicon(["roads"], CHARSET)).decode(log_probs, np.array([4]))[0].flagged


def test_per_image_lexicons_match_names_and_take_precedence(rng, tmp_path) -> None:
    tsv = tmp_path / "lexicons.tsv"
    tsv.write_text("test/1_1.png\tROAD,TOAD\nother/1_1.png\tload\n2_1.png\tgoat,boat\n\n", encoding="utf-8")
    lexicons = ImageLexicons.read(tsv, CHARSET)
    assert len(lexicons) == 3
    road = lexicons.lookup("/data/iiit5k/test/1_1.png")
    assert road is not None and road.words == ["road", "toad"]
    assert lexicons.lookup("test/1_1.png") is road  # built once, then cached
    load = lexicons.lookup("other/1_1.png")
    assert load is not None and load.words == ["load"]
    assert lexicons.lookup("x/1_1.png") is None  # ambiguous file name, no matching folder
    assert lexicons.lookup("3_1.png") is None
    decoder = LexiconDecoder(CHARSET, Lexicon(["coat"], CHARSET), image_lexicons=lexicons)
    log_probs = _reading(rng, ["road", "road", "road"], steps=12)
    names = ["imgs/test/1_1.png", "2_1.png", "none.png"]
    decoded = decoder.decode(log_probs, np.full(3, 12), names=names)
    assert [d.text for d in decoded] == ["road", "goat", "coat"] or [d.text for d in decoded] == [
        "road",
        "boat",
        "coat",
    ]
    alone = LexiconDecoder(CHARSET, image_lexicons=lexicons).decode(log_probs, np.full(3, 12), names=names)
    assert [d.flagged for d in alone] == [False, False, True]
    tsv.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"lexicons.tsv:1"):
        ImageLexicons.read(tsv, CHARSET)
