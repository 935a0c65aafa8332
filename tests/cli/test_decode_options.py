"""The decoders end to end through ``crnn predict`` / ``crnn eval`` and the API, on the fixture model."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import WORDS
from crnn_ctc import Recognizer
from crnn_ctc.cli import main
from crnn_ctc.decode import DecoderOptions


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _rows(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_lexicon_decoder_answers_with_lexicon_words(capsys, model_path, word_images, tmp_path) -> None:
    # Near misses of every word, and for "crnn" and "xyz42" only near misses: the closest lexicon word wins.
    distractors = ["hallo", "coffees", "001", "bookkeepers", "recognitions", "streets", "oak"]
    lexicon_words = [w for w in WORDS if w not in ("crnn", "xyz42")] + ["cran", "xyz4", *distractors]
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("\n".join(word.upper() for word in lexicon_words) + "\n", encoding="utf-8")
    code, out, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", "lexicon", "--lexicon", lexicon, *word_images
    )
    assert code == 0, err
    rows = _rows(out)
    assert [row[0] for row in rows] == [str(p) for p in word_images]
    texts = [row[1] for row in rows]
    assert all(text in lexicon_words for text in texts)
    assert texts == [{"crnn": "cran", "xyz42": "xyz4"}.get(word, word) for word in WORDS]
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows)
    # --lexicon alone implies the lexicon decoder. With no word within --max-edit-distance, a small lexicon is
    # searched in full: still a lexicon word, not flagged.
    code, out, _ = _run(
        capsys, "predict", "--model", model_path, "--lexicon", lexicon, "--max-edit-distance", "0",
        "--format", "json", word_images[3], word_images[4],
    )  # fmt: skip
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["text"] for r in records] == ["cran", "a"]
    assert not any(r.get("flagged") for r in records)


def test_beam_agrees_with_greedy_on_clean_images(capsys, model_path, word_images) -> None:
    _, greedy, _ = _run(capsys, "predict", "--model", model_path, *word_images)
    code, beam, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", "beam", "--beam-width", 8, *word_images
    )
    assert code == 0, err
    assert [row[1] for row in _rows(beam)] == [row[1] for row in _rows(greedy)] == WORDS
    # Same text, same confidence: it is P(text | image), whichever decoder found the text.
    for a, b in zip(_rows(greedy), _rows(beam), strict=True):
        assert float(a[2]) == pytest.approx(float(b[2]), abs=1e-4)


@pytest.mark.parametrize("decoder", ["greedy", "beam", "lexicon"])
def test_allow_and_block_hold(capsys, model_path, word_images, tmp_path, decoder) -> None:
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("0011\n42\n0\nhello\n", encoding="utf-8")
    extra = ["--lexicon", lexicon] if decoder == "lexicon" else []
    code, out, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", decoder, "--allow", "0123456789", *extra, *word_images
    )
    assert code == 0, err
    texts = [row[1] for row in _rows(out)]
    assert all(set(text) <= set("0123456789") for text in texts)
    assert texts[2] == "0011"
    code, out, _ = _run(
        capsys, "predict", "--model", model_path, "--decoder", decoder, "--block", "lo", *extra, *word_images
    )
    assert code == 0 and not any(set(row[1]) & set("lo") for row in _rows(out))


def test_per_image_lexicons_on_predict_and_the_api(capsys, model_path, word_images, tmp_path) -> None:
    table = tmp_path / "lexicons.tsv"
    # Keyed by file name only; the CLI names images by their full path.
    table.write_text(f"{word_images[0].name}\tHELLO,HALLO,JELLO\n{word_images[3].name}\tCRAN,CRNA\n", encoding="utf-8")
    code, out, err = _run(
        capsys, "predict", "--model", model_path, "--image-lexicons", table, "--format", "json", *word_images[:4]
    )
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records[:3]] == ["hello", "coffee", "0011"]
    assert records[3]["text"] in ("cran", "crna")  # both one edit from "crnn": the model's probability decides
    assert [r.get("flagged", False) for r in records] == [False, True, True, False]
    recognizer = Recognizer.load(
        model_path, device="cpu", decoder="lexicon", decoder_options=DecoderOptions(image_lexicons={"x.png": ["ok"]})
    )
    predictions = list(recognizer.iter_recognize(word_images[8:10], names=["a/x.png", "b/y.png"]))
    assert [(p.text, p.flagged) for p in predictions] == [("ok", False), ("bookkeeper", True)]


def test_eval_with_a_lexicon_and_bad_flag_combinations(capsys, model_path, word_images, tmp_path) -> None:
    for path in word_images:
        shutil.copy(path, tmp_path / path.name)
    labels = [word if word != "crnn" else "cran" for word in WORDS]
    (tmp_path / "labels.tsv").write_text(
        "".join(f"{p.name}\t{label}\n" for p, label in zip(word_images, labels, strict=True)), encoding="utf-8"
    )
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("\n".join(labels) + "\n", encoding="utf-8")
    code, out, err = _run(capsys, "eval", "--model", model_path, "--data", tmp_path, "--lexicon", lexicon)
    assert code == 0, err
    assert "100.00%" in out.splitlines()[2]
    code, out, _ = _run(capsys, "eval", "--model", model_path, "--data", tmp_path)
    assert "90.00%" in out.splitlines()[2]  # greedy reads "crnn", which the label says is "cran"
    code, _, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", "greedy", "--lexicon", lexicon, word_images[0]
    )
    assert code == 2 and "lexicon decoder" in err
    code, _, err = _run(capsys, "predict", "--model", model_path, "--lexicon", tmp_path / "none.txt", word_images[0])
    assert code == 2 and "none.txt" in err


def test_eval_with_per_image_lexicons_on_a_folder_dataset(capsys, model_path, word_images, tmp_path) -> None:
    """The public benchmarks' small lexicons: one list per image, matched by the image's path."""
    for path in word_images:
        shutil.copy(path, tmp_path / path.name)
    labels = [word if word != "crnn" else "cran" for word in WORDS]
    (tmp_path / "labels.tsv").write_text(
        "".join(f"{p.name}\t{label}\n" for p, label in zip(word_images, labels, strict=True)), encoding="utf-8"
    )
    # Each image's lexicon holds its label and two distractors; "crnn" itself is in none of them.
    table = tmp_path / "lexicons.tsv"
    table.write_text(
        "".join(f"{p.name}\t{label},{label}x,q{label}\n" for p, label in zip(word_images, labels, strict=True)),
        encoding="utf-8",
    )
    predictions = tmp_path / "predictions.tsv"
    code, out, err = _run(capsys, "eval", "--model", model_path, "--data", tmp_path, "--image-lexicons", table,
                          "--predictions", predictions)  # fmt: skip
    assert code == 0, err
    assert "100.00%" in out.splitlines()[2]  # greedy alone scores 90% (it reads "crnn")
    rows = predictions.read_text(encoding="utf-8").splitlines()[1:]
    assert rows[0].split("\t")[0].endswith(word_images[0].name)  # samples are named by their image path


def test_word_prior_through_predict_and_eval(capsys, model_path, word_images, tmp_path) -> None:
    """``--word-prior FILE`` reads with beam search and the prior: clean images still read as they are;
    bad combinations and bad files stop with a message that names them."""
    words = tmp_path / "words.txt"
    words.write_text("".join(f"{word}\t{10 + index}\n" for index, word in enumerate(WORDS)), encoding="utf-8")
    code, out, err = _run(
        capsys, "predict", "--model", model_path, "--word-prior", words, "--format", "json", *word_images
    )
    assert code == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == WORDS
    for path in word_images:
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "labels.tsv").write_text(
        "".join(f"{p.name}\t{word}\n" for p, word in zip(word_images, WORDS, strict=True)), encoding="utf-8"
    )
    code, out, err = _run(capsys, "eval", "--model", model_path, "--data", tmp_path, "--word-prior", words)
    assert code == 0 and "100.00%" in out.splitlines()[2], err
    code, _, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", "beam", "--prior-weight", "0.5", word_images[0]
    )
    assert code == 2 and "without a word prior" in err
    # The default (auto) decoder weighs its English prior as told.
    code, out, err = _run(capsys, "predict", "--model", model_path, "--prior-weight", "0.5", *word_images)
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == WORDS, err
    code, _, err = _run(
        capsys, "predict", "--model", model_path, "--decoder", "greedy", "--word-prior", words, word_images[0]
    )
    assert code == 2 and "beam decoder" in err
    code, _, err = _run(capsys, "predict", "--model", model_path, "--word-prior", tmp_path / "none.txt", word_images[0])
    assert code == 2 and "none.txt" in err
    (tmp_path / "bad.txt").write_text("hello 3\nworld lots\n", encoding="utf-8")
    code, _, err = _run(capsys, "predict", "--model", model_path, "--word-prior", tmp_path / "bad.txt", word_images[0])
    assert code == 2 and "bad.txt:2" in err
