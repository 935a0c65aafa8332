"""Synthetic pages: determinism, boxes that hold exactly their line's ink, reading order, truthful text,
figures apart from text, the JSON ground truth, and `crnn synth-pages`."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.charset import Charset
from crnn_ctc.cli.synth_pages import parse_columns
from crnn_ctc.errors import ConfigError, DatasetError
from crnn_ctc.page.types import Box
from crnn_ctc.synth.fonts import FontError, find_fonts
from crnn_ctc.synth.page_config import PageSynthConfig
from crnn_ctc.synth.pages import (
    TSV_NAME,
    SynthPage,
    page_seed,
    read_synth_page,
    render_page,
    write_synth_pages,
)

FAMILIES = ("DejaVu Sans", "DejaVu Serif", "Liberation Mono", "Liberation Serif")
WORDS = """the of and to in is was for that with on as by at from his her which paper column page line word read
text letter number price street river garden window summer winter station market report museum council
don't well-known o'clock quickly gathered yesterday beautiful morning evening northern southern"""
# What the ink tests need: flat white paper and no scan effects, so ink is every pixel below 255.
CLEAN = dict(p_colour=0.0, p_paper=0.0, p_blur=0.0, p_noise=0.0, p_jpeg=0.0, p_binarize=0.0)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A small font manifest (a few families in all their styles) and a word list, as files."""
    try:
        faces = find_fonts()
    except FontError as error:
        pytest.skip(f"no fonts installed ({error}); run `make fonts`")
    chosen = [face for face in faces if face.family in FAMILIES]
    if not chosen:
        pytest.skip(f"none of {FAMILIES} installed; run `make fonts`")
    folder = tmp_path_factory.mktemp("page-sources")
    manifest = folder / "fonts.tsv"
    with manifest.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "family", "style", "category"])
        writer.writerows([face.path, face.family, face.style, face.category] for face in chosen)
    words = folder / "words.txt"
    words.write_text("\n".join(WORDS.split()) + "\n", encoding="utf-8")
    return str(manifest), str(words)


def config(sources: tuple[str, str], **changes: object) -> PageSynthConfig:
    return PageSynthConfig(fonts=sources[0], words=sources[1]).with_changes(**changes)


def line_mask(page: SynthPage, index: int) -> np.ndarray:
    """The line's text drawn alone with its font: a boolean mask of its ink, cropped to the ink."""
    text = page.lines[index][0]
    font_info = page.fonts[page.line_fonts[index]]
    font = ImageFont.truetype(font_info.path, font_info.size)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    pad = font_info.size
    layer = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad))
    ImageDraw.Draw(layer).text((pad - left, pad - top), text, font=font, fill=255)
    ink = layer.getbbox()
    assert ink is not None
    return np.asarray(layer.crop(ink)) > 0


def overlap(a: Box, b: Box) -> int:
    return max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0, min(a.y1, b.y1) - max(a.y0, b.y0))


# -- determinism and the text -------------------------------------------------------------------------
def test_a_seed_is_always_the_same_page(sources: tuple[str, str]) -> None:
    settings = config(sources, p_picture=1.0, p_noise=1.0, p_jpeg=1.0)
    first, again, other = render_page(11, settings), render_page(11, settings), render_page(12, settings)
    assert first.image.tobytes() == again.image.tobytes() and first.image.mode == again.image.mode
    assert (first.lines, first.blocks, first.figures, first.text) == (again.lines, again.blocks, again.figures,
                                                                       again.text)  # fmt: skip
    assert other.text != first.text
    assert page_seed(0, 1) == page_seed(0, 1) != page_seed(1, 0) != page_seed(0, 0)


def test_text_is_printable_single_spaced_and_joined_in_reading_order(sources: tuple[str, str]) -> None:
    charset = Charset.preset("printable+space")
    for seed in range(4):
        page = render_page(seed, config(sources))
        assert page.lines and page.image.size == (1240, 1754) and page.image.mode in {"L", "RGB"}
        for text, _ in page.lines:
            assert text and all(char in charset for char in text), text
            assert text == text.strip() and "  " not in text, repr(text)
        assert page.text == "\n\n".join("\n".join(page.lines[i][0] for i in block.lines) for block in page.blocks)
        assert [i for block in page.blocks for i in block.lines] == list(range(len(page.lines)))


# -- boxes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_each_box_holds_exactly_its_lines_ink(sources: tuple[str, str], seed: int) -> None:
    page = render_page(seed, config(sources, p_picture=0.0, p_rule=0.5, columns_range=(1, 3), **CLEAN))
    assert page.image.mode == "L"
    ink = np.asarray(page.image) < 255
    covered = np.zeros_like(ink)
    for _, box in page.lines:
        covered[box.y0 : box.y1, box.x0 : box.x1] = True
    for figure in page.figures:
        covered[figure.box.y0 : figure.box.y1, figure.box.x0 : figure.box.x1] = True
    assert not (ink & ~covered).any(), "ink outside every line and figure box"
    for index, (text, box) in enumerate(page.lines):
        alone = line_mask(page, index)
        assert alone.shape == (box.height, box.width), f"line {index} {text!r}: the box is not its ink's tight box"
        drawn = ink[box.y0 : box.y1, box.x0 : box.x1]
        # Another line's ink inside this box (or this line's missing) would show as a difference: none.
        assert (drawn == alone).all(), f"line {index} {text!r}: {(drawn != alone).sum()} pixels differ"
    for i, (_, a) in enumerate(page.lines):
        for _, b in page.lines[i + 1 :]:
            assert overlap(a, b) == 0, (a, b)


def test_reading_order_is_headline_then_columns_left_to_right(sources: tuple[str, str]) -> None:
    for seed in range(3):
        page = render_page(seed, config(sources, columns_range=(3, 3), body_size_range=(18, 20), p_headline=1.0))
        assert page.blocks[0].kind == "headline" and page.fonts[page.line_fonts[0]].role == "headline"
        headline_bottom = page.blocks[0].box.y1
        body = [block for block in page.blocks if block.kind == "paragraph"]
        assert len({block.box.x0 // 100 for block in body}) >= 2, "the text did not flow into a second column"
        for before, after in itertools.pairwise(body):
            assert after.box.y0 >= headline_bottom
            same_column = after.box.x0 < before.box.x1
            # In one column each block lies below the last; a new column starts to the right.
            assert after.box.y0 >= before.box.y1 if same_column else after.box.x0 >= before.box.x1
        for block in page.blocks:  # lines of a block top to bottom
            tops = [page.lines[i][1].y0 for i in block.lines]
            assert tops == sorted(tops)


def test_figures_keep_clear_of_text(sources: tuple[str, str]) -> None:
    kinds = set()
    for seed in range(4):
        page = render_page(seed, config(sources, p_picture=1.0, p_rule=1.0, p_headline=1.0))
        for figure in page.figures:
            kinds.add(figure.kind)
            assert 0 <= figure.box.x0 < figure.box.x1 <= 1240 and 0 <= figure.box.y0 < figure.box.y1 <= 1754
            for text, box in page.lines:
                assert overlap(figure.box, box) == 0, (figure, text, box)
    assert kinds == {"picture", "rule"}


def test_a_skewed_page_keeps_the_unrotated_boxes(sources: tuple[str, str]) -> None:
    straight = render_page(4, config(sources, **CLEAN))
    turned = render_page(4, config(sources, skew_degrees=3.0, **CLEAN))
    assert straight.skew == 0.0 and 0 < abs(turned.skew) <= 3.0
    assert turned.lines == straight.lines and turned.blocks == straight.blocks
    assert turned.image.tobytes() != straight.image.tobytes()
    assert turned.to_dict()["skew"] == turned.skew


# -- the ground-truth files -------------------------------------------------------------------------
def test_ground_truth_survives_json(sources: tuple[str, str], tmp_path: Path) -> None:
    page = render_page(3, config(sources, p_picture=1.0, p_rule=1.0))
    data = json.loads(json.dumps(page.to_dict("page.png")))
    assert data["format"] == "crnn-synth-page/1" and data["lines"][0]["box"] == page.lines[0][1].as_list()
    assert SynthPage.from_dict(data, page.image) == page
    page.image.save(tmp_path / "page.png")
    (tmp_path / "page.json").write_text(json.dumps(data), encoding="utf-8")
    assert read_synth_page(tmp_path / "page.json").to_dict("page.png") == data
    with pytest.raises(DatasetError, match="format"):
        SynthPage.from_dict({**data, "format": "other"}, page.image)
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad\.json"):
        read_synth_page(tmp_path / "bad.json")


def test_written_pages_are_listed_and_replaced_only_when_asked(sources: tuple[str, str], tmp_path: Path) -> None:
    settings = config(sources)
    summary = write_synth_pages(tmp_path / "pages", 2, seed=5, config=settings)
    assert summary.count == 2 and summary.lines > 0
    rows = (tmp_path / "pages" / TSV_NAME).read_text(encoding="utf-8").splitlines()
    assert rows == ["page-00000.png\tpage-00000.json", "page-00001.png\tpage-00001.json"]
    stored = read_synth_page(tmp_path / "pages" / "page-00001.json")
    fresh = render_page(page_seed(5, 1), settings)
    assert stored.lines == fresh.lines and stored.image.tobytes() == fresh.image.tobytes()
    with pytest.raises(DatasetError, match="--overwrite"):
        write_synth_pages(tmp_path / "pages", 1, config=settings)
    write_synth_pages(tmp_path / "pages", 1, config=settings, overwrite=True)
    assert len((tmp_path / "pages" / TSV_NAME).read_text(encoding="utf-8").splitlines()) == 1
    assert not list(tmp_path.glob(".pages.*"))


# -- the command and the config -----------------------------------------------------------------------
def crnn(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "crnn_ctc", *args], capture_output=True, text=True, env=environment,
                          timeout=120)  # fmt: skip


def test_synth_pages_command_writes_a_dataset(sources: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "pages"
    done = crnn("synth-pages", "--count", "2", "--out", str(out), "--seed", "3", "--columns", "2", "--fonts",
                sources[0], "--words", sources[1], "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 2 synthetic pages" in done.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "page-00000.json", "page-00000.png", "page-00001.json", "page-00001.png", "pages.tsv", "synth-pages.json",
    ]  # fmt: skip
    stored = read_synth_page(out / "page-00000.json")
    fresh = render_page(page_seed(3, 0), config(sources, columns_range=(2, 2)))
    assert stored.text == fresh.text and stored.image.tobytes() == fresh.image.tobytes()


def test_synth_pages_command_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "pages"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    done = crnn("synth-pages", "--count", "1", "--out", str(out))
    assert done.returncode == 2 and "--overwrite" in done.stderr
    assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
    done = crnn("synth-pages", "--count", "1", "--out", str(tmp_path / "other"), "--columns", "4-2")
    assert done.returncode == 2 and "columns_range" in done.stderr


def test_config_is_checked_and_read_from_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="p_picture"):
        PageSynthConfig(p_picture=2.0)
    with pytest.raises(ConfigError, match="columns_range"):
        PageSynthConfig(columns_range=(0, 2))
    with pytest.raises(ConfigError, match="font_split"):
        PageSynthConfig(font_split="some")
    with pytest.raises(ConfigError, match="unknown page config field"):
        PageSynthConfig.from_dict({"colour": 1})
    path = tmp_path / "pages.json"
    path.write_text(json.dumps({"columns_range": [2, 2], "skew_degrees": 1.5}), encoding="utf-8")
    loaded = PageSynthConfig.from_file(path)
    assert loaded.columns_range == (2, 2) and loaded.skew_degrees == 1.5 and loaded.p_rule == PageSynthConfig().p_rule
    assert PageSynthConfig.from_dict(json.loads(json.dumps(loaded.to_dict()))) == loaded
    assert parse_columns("3") == (3, 3) and parse_columns("1-2") == (1, 2)
    with pytest.raises(ConfigError, match="MIN-MAX"):
        parse_columns("two")
