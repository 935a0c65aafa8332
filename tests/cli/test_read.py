"""End to end through ``crnn read`` with the bundled model, on small pages of printed text drawn here:
formats, one file per page, page limits, and bad files reported while the other pages are read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.cli import main

REPO = Path(__file__).resolve().parents[2]
LINES = ["The quick brown fox jumps", "over the lazy dog today"]
SECOND = ["Another page of text"]


@cache
def _font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans from the font inventory (`make fonts`), else Pillow's own scalable font."""
    manifest = REPO / ".fonts" / "manifest.tsv"
    if manifest.is_file():
        for row in manifest.read_text(encoding="utf-8").splitlines()[1:]:
            path = row.split("\t", 1)[0]
            if path.endswith("/DejaVuSans.ttf") and Path(path).is_file():
                return ImageFont.truetype(path, 28)
    return ImageFont.load_default(size=28)


def _page(lines: list[str], size: tuple[int, int] = (720, 220)) -> Image.Image:
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((40, 40 + 56 * index), line, fill=0, font=_font())
    return image


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``letter.png`` (LINES), ``scan.tif`` (1-bit), and ``book.pdf``: two pages (LINES, SECOND) at 144 dpi."""
    folder = tmp_path_factory.mktemp("pages")
    _page(LINES).save(folder / "letter.png")
    _page(LINES).convert("1").save(folder / "scan.tif")
    _page(LINES).save(folder / "book.pdf", save_all=True, resolution=144.0, append_images=[_page(SECOND)])
    return {path.name: path for path in folder.iterdir()}


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main(["read", *(str(a) for a in argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _words(text: str) -> set[str]:
    return set(text.lower().split())


def _close_enough(read: str, expected: list[str]) -> bool:
    """Most of the words read right: the bundled model reads clean print well, but not perfectly."""
    truth = _words(" ".join(expected))
    return len(truth & _words(read)) >= 0.7 * len(truth)


def test_text_of_every_page_in_order_and_a_missing_file_reported(capsys, pages, tmp_path) -> None:
    missing = tmp_path / "missing.png"
    code, out, err = _run(capsys, pages["letter.png"], missing, pages["book.pdf"], "--dpi", 144)
    assert code == 1
    assert f"crnn: error: {missing}: no such file" in err
    texts = out.split("\f")  # pages apart by a form feed, as Tesseract writes them
    assert len(texts) == 3, out
    assert _close_enough(texts[0], LINES) and _close_enough(texts[1], LINES) and _close_enough(texts[2], SECOND)
    assert "quick" in texts[0] and texts[0].endswith("\n")


def test_pages_read_with_the_word_prior_unless_a_decoder_is_named(capsys, pages) -> None:
    """``crnn read`` reads with the English word prior by default (its weight is settable without naming it);
    ``--decoder greedy`` reads without, and then a prior weight is a usage error."""
    code, out, err = _run(capsys, pages["letter.png"], "--prior-weight", 0.6)
    assert code == 0 and _close_enough(out, LINES), err
    code, out, err = _run(capsys, pages["letter.png"], "--decoder", "greedy")
    assert code == 0 and _close_enough(out, LINES), err
    code, _, err = _run(capsys, pages["letter.png"], "--decoder", "greedy", "--prior-weight", 0.6)
    assert code == 2 and "without a word prior" in err


def test_json_lists_pages_with_blocks_lines_words_and_boxes(capsys, pages) -> None:
    code, out, err = _run(capsys, "--format", "json", pages["letter.png"], pages["scan.tif"])
    assert code == 0, err
    document = json.loads(out)
    assert document["format_version"] == 1
    assert [(p["source"], p["page_number"]) for p in document["pages"]] == [
        (str(pages["letter.png"]), 1), (str(pages["scan.tif"]), 1),
    ]  # fmt: skip
    for page in document["pages"]:
        assert (page["width"], page["height"], page["rotation"]) == (720, 220, 0)
        lines = [line for block in page["blocks"] for line in block["lines"]]
        assert len(lines) == 2 and _close_enough(page["text"], LINES)
        for line in lines:
            x0, y0, x1, y1 = line["box"]
            assert 0 <= x0 < x1 <= 720 and 0 <= y0 < y1 <= 220 and 0.0 <= line["confidence"] <= 1.0
            assert line["words"] and all(0.0 <= word["confidence"] <= 1.0 for word in line["words"])
            assert " ".join(word["text"] for word in line["words"]) == line["text"]
        assert lines[0]["box"][1] < lines[1]["box"][1]  # reading order: top line first


def test_hocr_is_one_well_formed_document_for_all_pages(capsys, pages) -> None:
    code, out, err = _run(capsys, "--format", "hocr", pages["book.pdf"], "--dpi", 144)
    assert code == 0, err
    root = ET.fromstring(out.encode("utf-8"))
    found = [element for element in root.iter() if element.get("class") == "ocr_page"]
    assert [page.get("id") for page in found] == ["page_1", "page_2"]
    assert found[1].get("title") == f'image "{pages["book.pdf"]}"; bbox 0 0 720 220; ppageno 1'
    words = [element.text or "" for element in found[0].iter() if element.get("class") == "ocrx_word"]
    assert _close_enough(" ".join(words), LINES)


def test_output_folder_gets_one_file_per_page(capsys, pages, tmp_path) -> None:
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys, pages["letter.png"], pages["book.pdf"], "--dpi", 144, "--output", out, "--progress"
    )
    assert code == 0, err
    assert stdout == ""
    assert "3/3" in err  # the progress bar, over the pages the files turned out to hold
    assert sorted(path.name for path in out.iterdir()) == ["book-p1.txt", "book-p2.txt", "letter.txt"]
    assert _close_enough((out / "book-p2.txt").read_text(encoding="utf-8"), SECOND)
    assert "\f" not in (out / "letter.txt").read_text(encoding="utf-8")

    code, _, err = _run(capsys, pages["book.pdf"], "--dpi", 144, "--format", "json", "-o", out)
    assert code == 0, err
    document = json.loads((out / "book-p2.json").read_text(encoding="utf-8"))
    assert [page["page_number"] for page in document["pages"]] == [2]
    code, _, err = _run(capsys, pages["scan.tif"], "--format", "hocr", "-o", out)
    assert code == 0, err
    ET.fromstring((out / "scan.hocr").read_bytes())
    assert not [path for path in out.iterdir() if path.name.startswith(".")]  # no temporary file left


def test_usage_errors_exit_2_before_reading(capsys, pages, tmp_path) -> None:
    other = tmp_path / "letter.png"
    _page(SECOND).save(other)
    code, _, err = _run(capsys, pages["letter.png"], other, "-o", tmp_path / "out")
    assert code == 2 and "would write the same files" in err
    (tmp_path / "taken").write_text("a file")
    code, _, err = _run(capsys, pages["letter.png"], "-o", tmp_path / "taken")
    assert code == 2 and "is a file" in err
    for flag, value in (("--dpi", 0), ("--max-pages", 0), ("--max-page-pixels", 0), ("--batch-size", 0)):
        code, _, err = _run(capsys, pages["letter.png"], flag, value)
        assert code == 2 and flag in err
    with pytest.raises(SystemExit) as exit:
        main(["read"])
    assert exit.value.code == 2


def test_page_limits_fail_that_page_and_name_the_flag(capsys, pages) -> None:
    code, out, err = _run(capsys, pages["book.pdf"], pages["letter.png"], "--max-pages", 1)
    assert code == 1
    assert f"{pages['book.pdf']}: has 2 pages, over the limit of 1; raise it with --max-pages" in err
    assert _close_enough(out, LINES)  # the other file is still read
    code, out, err = _run(capsys, pages["book.pdf"], "--dpi", 144, "--max-page-pixels", 100_000)
    assert code == 2 and out == ""  # nothing read at all: not "some failed"
    assert "none of the 2 page(s) or file(s) could be read" in err
    assert f"{pages['book.pdf']} page 1: page is 720x220 = 158,400 pixels" in err
    assert f"{pages['book.pdf']} page 2: " in err and "--max-page-pixels" in err


def test_recognizer_reads_a_page_and_a_document() -> None:
    from crnn_ctc import Recognizer
    from crnn_ctc.page.reader import PageOptions

    recognizer = Recognizer.load(threads=1)
    page = recognizer.read_page(_page(LINES), source="drawn", options=PageOptions(deskew=False))
    assert (page.source, page.page_number, len(page.lines)) == ("drawn", 1, 2)
    assert _close_enough(page.text, LINES)


def test_recognizer_reads_every_page_of_a_document(pages) -> None:
    from crnn_ctc import Recognizer

    read = list(Recognizer.load(threads=1).read_document(pages["book.pdf"], dpi=144))
    assert [(page.source, page.page_number) for page in read] == [
        (str(pages["book.pdf"]), 1),
        (str(pages["book.pdf"]), 2),
    ]
    assert _close_enough(read[1].text, SECOND)
