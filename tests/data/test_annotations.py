import pytest

from crnn_ctc.data.annotations import detect_format, label_from_synth90k_name, read_annotations
from crnn_ctc.errors import DatasetError


def _write(tmp_path, text: str, name: str = "anno.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_seed_format_splits_at_the_first_space(tmp_path) -> None:
    good, bad, fmt = read_annotations(_write(tmp_path, "a/1.jpg hello\r\n\nb/2.jpg two words\nlonely.jpg\n"))
    assert fmt == "seed"
    assert [(a.path, a.label, a.line) for a in good] == [("a/1.jpg", "hello", 1), ("b/2.jpg", "two words", 3)]
    assert [(b.line, b.reason) for b in bad] == [(4, "no space between path and label")]


def test_tsv_keeps_spaces_in_labels(tmp_path) -> None:
    good, bad, fmt = read_annotations(_write(tmp_path, "my dir/1.png\tNew York\nno-tab-here\n"))
    assert fmt == "tsv"
    assert [(a.path, a.label) for a in good] == [("my dir/1.png", "New York")]
    assert bad[0].line == 2 and "TAB" in bad[0].reason


def test_synth90k_names_give_labels(tmp_path) -> None:
    text = "./2911/6/77_heretical_35885.jpg 35885\n./1/1/373_coley_14845.jpg\n"
    good, bad, fmt = read_annotations(_write(tmp_path, text))
    assert fmt == "synth90k" and not bad
    assert [a.label for a in good] == ["heretical", "coley"]
    assert label_from_synth90k_name("1_New_York_2.jpg") == "New_York"
    with pytest.raises(DatasetError, match="not a Synth90k"):
        label_from_synth90k_name("plain.jpg")


def test_format_detection_and_explicit_choice(tmp_path) -> None:
    assert detect_format(["a.jpg x", "b.jpg y"]) == "seed"
    assert detect_format(["a.jpg\tx"]) == "tsv"
    assert detect_format(["./1/1/3_word_4.jpg"]) == "synth90k"
    good, _, fmt = read_annotations(_write(tmp_path, "1_a_2.jpg label\n"), "seed")
    assert fmt == "seed" and good[0].label == "label"


def test_unreadable_annotation_files(tmp_path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        read_annotations(tmp_path / "missing.txt")
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a.jpg ok\nb.jpg caf\xe9\n")
    with pytest.raises(DatasetError, match=r"latin1\.txt:2: not UTF-8"):
        read_annotations(path)
    with pytest.raises(DatasetError, match="unknown annotation format"):
        read_annotations(_write(tmp_path, "a b\n"), "xml")
