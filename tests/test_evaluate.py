import pytest

from crnn_ctc.evaluate import Report, normalize, score


def test_protocols_normalise_as_named() -> None:
    assert normalize("Hello, World-42!", "lower-alnum") == "helloworld42"
    assert normalize("Hello, World-42!", "alnum") == "HelloWorld42"
    assert normalize("Hello, World-42!", "raw") == "Hello, World-42!"
    with pytest.raises(ValueError, match="unknown protocol"):
        normalize("x", "fuzzy")


def test_metrics_against_hand_computed_cases() -> None:
    report = score(["Coffee", "tea", "milk", "!!!"], ["coffee", "toe", "", "x"], "lower-alnum")
    assert (report.samples, report.excluded, report.correct) == (3, 1, 1)  # "!!!" is empty after filtering
    assert report.word_accuracy == pytest.approx(1 / 3)
    # edit distances: coffee 0, tea->toe 2, milk->"" 4; label characters 6 + 3 + 4
    assert report.cer == pytest.approx(6 / 13)
    # NED: 0/6, 2/3, 4/4 -> 1 - mean
    assert report.one_minus_ned == pytest.approx(1 - (0 + 2 / 3 + 1) / 3)
    case_sensitive = score(["Coffee"], ["coffee"], "alnum")
    assert case_sensitive.word_accuracy == 0.0 and case_sensitive.cer == pytest.approx(1 / 6)


def test_most_confident_mistakes_first() -> None:
    report = Report("raw")
    for label, prediction, confidence in [("a", "a", 0.99), ("b", "c", 0.2), ("d", "e", 0.9), ("f", "g", 0.5)]:
        report.add(label, prediction, confidence)
    assert [m.label for m in report.most_confident_mistakes(2)] == ["d", "f"]
    assert report.as_dict()["word_accuracy"] == 0.25


def test_wer_counts_word_edits_over_label_words() -> None:
    report = score(["the quick brown fox", "call 555-0199 now"], ["the quick brown fox", "calls55:0199 now"], "raw")
    # second line: "call"->"calls55:0199" substituted, "555-0199" deleted: 2 word errors of 7 words
    assert report.wer == pytest.approx(2 / 7)
    assert report.word_accuracy == 0.5 and report.as_dict()["wer"] == round(2 / 7, 6)
    assert score(["Hello"], ["hello"], "lower-alnum").wer == 0.0
