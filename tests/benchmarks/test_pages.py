"""benchmarks/pages.py and real_pages.py: the scoring of one small synthetic page read by our page reader
(and by Tesseract where it is installed), the tables, and the real pages' text rules."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

from crnn_ctc.page.types import Box
from crnn_ctc.synth.page_config import PageSynthConfig

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))  # pages.py imports real_pages.py from beside it
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


real_pages = _load("real_pages")
pages = _load("pages")

# A small one-column page without pictures: a few lines, read in about a second.
TINY = PageSynthConfig(
    width=640, height=420, columns_range=(1, 1), paragraphs_range=(1, 1), paragraph_lines_range=(2, 4),
    p_picture=0.0, p_headline=1.0, headline_size_range=(30, 34), body_size_range=(22, 24),
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_page(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("bench-pages")
    (page,) = pages.synthetic_pages(1, folder, first_seed=3, config=TINY)
    return page


def _check_result(result, page, engine: str) -> None:
    assert (result.engine, result.set_name, result.page) == (engine, "synthetic", page.name)
    assert result.error is None
    assert result.seconds > 0
    assert result.cer >= 0.0 and result.wer >= 0.0
    assert result.characters == len(" ".join(page.text.split())) and result.words == len(page.text.split())
    assert result.lines_true == len(page.lines) > 0
    assert 0 <= result.lines_matched <= min(result.lines_predicted, result.lines_true)


def test_our_reader_on_a_small_synthetic_page_is_scored(tiny_page) -> None:
    engines = {"crnn-ctc": pages.OurReader(threads=1)}
    if shutil.which("tesseract") is not None:
        engines["tesseract"] = pages.TesseractReader(threads=1)
    results = pages.run_pages([tiny_page], engines)
    assert [result.engine for result in results] == list(engines)
    for result in results:
        _check_result(result, tiny_page, result.engine)
    ours = results[0]
    assert ours.lines_matched >= ours.lines_true - 1  # a clean page: its lines are found
    assert ours.cer < 0.5

    rows = [pages.summarise(results, "synthetic", engine) for engine in engines]
    assert rows[0].pages == 1 and rows[0].precision is not None and rows[0].recall is not None
    assert rows[0].cer == pytest.approx(ours.cer)
    table = pages.markdown_table(rows).splitlines()
    assert table[0].startswith("| engine | pages | CER | WER | pages/s |")
    assert len(table) == 2 + len(engines) and table[2].startswith("| crnn-ctc | 1 |")
    json.dumps([vars(result) for result in results])  # what --out writes


def test_summary_weighs_pages_by_length_and_counts_failures() -> None:
    short = pages.PageResult("e", "real", "a", 1.0, 0.5, 1.0, 10, 2)
    long = pages.PageResult("e", "real", "b", 3.0, 0.0, 0.0, 90, 18, error="exit 1")
    row = pages.summarise([short, long], "all", "e")
    assert row.cer == pytest.approx(0.05) and row.wer == pytest.approx(0.1)
    assert row.pages_per_s == pytest.approx(0.5) and row.errors == 1
    assert row.precision is None and row.recall is None
    assert "| e | 2 (1 failed) | 5.0% | 10.0% | 0.50 | - | - |" in pages.markdown_table([row])


def test_hocr_line_boxes() -> None:
    hocr = (
        "<span class='ocr_line' id='line_1_1' title=\"bbox 10 20 300 45; baseline 0 -5\">"
        "<span class='ocrx_word' title='bbox 10 20 60 45; x_wconf 96'>Hi</span></span>"
        "<span class='ocr_header' id='line_1_2' title=\"bbox 12 60 200 90; x_size 30\"></span>"
    )
    assert pages.hocr_line_boxes(hocr) == (Box(10, 20, 300, 45), Box(12, 60, 200, 90))


def test_fold_text_writes_typographic_forms_in_ascii() -> None:
    assert real_pages.fold_text("\ufb01ne \u201cquotes\u201d \u2014 it\u2019s devel\ufffeopment\r\nnext") == (
        'fine "quotes" - it\'s devel-\nopment\nnext'
    )


def test_page_problem_keeps_running_text_only() -> None:
    prose = "The quick brown fox jumps over the lazy dog, again and again. " * 20
    assert real_pages.page_problem(prose) is None
    assert real_pages.page_problem(prose[:300]) == "under 800 characters"
    assert real_pages.page_problem(prose + "Contents . . . . . . 3") == "table of contents"
    assert real_pages.page_problem(prose + "\u2022 item").startswith("outside printable+space: U+2022")
    assert real_pages.page_problem("00 0a 3e 30 3d 00 04 2a " * 60) == "few letters"
    assert real_pages.page_problem(prose, overflow=True) == "text outside the page"
    assert real_pages.page_problem(prose, middle_share=0.0) == "not one column"


def test_choose_pages_spreads_over_the_pdfs() -> None:
    many = [(number, f"a{number}") for number in range(1, 21)]
    one = [(2, "b2")]
    chosen = real_pages.choose_pages([many, one], 4)
    assert [index for index, _, _ in chosen] == [0, 0, 0, 1]
    assert [number for _, number, _ in chosen] == [4, 11, 17, 2]  # evenly spaced through the first PDF
    assert real_pages.choose_pages([many, one], 40)[-1] == (1, 2, "b2")
    assert len(real_pages.choose_pages([many, one], 40)) == 21


def test_scan_degrade_is_seeded_and_keeps_the_size() -> None:
    clean = Image.new("L", (200, 120), 255)
    clean.paste(0, (20, 40, 180, 60))
    first, again, other = (real_pages.scan_degrade(clean, seed) for seed in (1, 1, 2))
    assert first.size == clean.size and first.mode == "L"
    assert first.tobytes() == again.tobytes() and first.tobytes() != other.tobytes()
