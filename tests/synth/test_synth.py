"""Synthetic data: determinism, font coverage, truthful labels, the LMDB it writes, and its config."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import string
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import PIL
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from crnn_ctc.charset import Charset
from crnn_ctc.cli.synth import add_command as add_synth_command
from crnn_ctc.data.lmdb_store import LmdbDataset
from crnn_ctc.data.readers import open_source
from crnn_ctc.errors import ConfigError, DatasetError
from crnn_ctc.synth import (
    FontWarning,
    SelectedFont,
    SynthConfig,
    SynthDataset,
    SynthGenerator,
    find_fonts,
    preset,
    render,
    select_fonts,
)
from crnn_ctc.synth import fonts as fonts_module
from crnn_ctc.synth.fonts import (
    FontError,
    FontFace,
    LayoutWarning,
    label_for,
    scan_font_dir,
    text_layout,
    uncovered_symbols,
)
from crnn_ctc.synth.text import TextSource, WordList, load_words
from crnn_ctc.synth.write import GRID_NAME, write_synth_dataset

# A handful of installed families of different kinds (`make fonts`), including an all-capitals one.
TEST_FAMILIES = ("DejaVu Sans", "DejaVu Serif", "Liberation Mono", "Pacifico", "Bebas Neue", "Oswald", "Comic Neue")
WORDS = WordList.weighted(["hello", "world", "street", "coffee", "Road", "open", "x"], [5, 4, 3, 2, 2, 1, 1], 0.5)


@pytest.fixture(scope="module")
def font_faces() -> list[FontFace]:
    try:
        faces = find_fonts()
    except FontError as error:
        pytest.skip(f"no fonts installed ({error}); run `make fonts`")
    chosen = [face for face in faces if face.family in TEST_FAMILIES]
    chosen = [face for face in chosen if "Italic" not in face.style and "Bold" not in face.style][:12]
    if not chosen:  # a machine with fonts but not ours: take the first few
        chosen = faces[:6]
    return chosen


@pytest.fixture(scope="module")
def font_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("font-cache")


@pytest.fixture(scope="module")
def printable_fonts(font_faces: list[FontFace], font_cache: Path) -> list[SelectedFont]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)  # all-caps fonts draw too little of "printable"
        return select_fonts(font_faces, Charset.preset("printable"), cache_dir=font_cache)


def make_generator(
    fonts: list[SelectedFont], charset: str = "printable", seed: int = 7, **changes: object
) -> SynthGenerator:
    return SynthGenerator(SynthConfig().with_changes(**changes), Charset.preset(charset), fonts, WORDS, seed=seed)


def image_bytes(image: Image.Image) -> bytes:
    return image.tobytes() + repr(image.size).encode()


# -- config -------------------------------------------------------------------------------------------
def test_config_rejects_bad_probabilities_ranges_and_weights() -> None:
    with pytest.raises(ConfigError, match="p_blur"):
        SynthConfig(p_blur=1.5)
    with pytest.raises(ConfigError, match="blur_range"):
        SynthConfig(blur_range=(2.0, 1.0))
    with pytest.raises(ConfigError, match="text_mix"):
        SynthConfig(text_mix={"word": 1.0, "poem": 1.0})
    with pytest.raises(ConfigError, match="font_mix"):
        SynthConfig(font_mix={"serif": 0.0})
    with pytest.raises(ConfigError, match="unknown synth preset"):
        preset("shiny")
    with pytest.raises(ConfigError, match="context_reveal_range"):
        SynthConfig(context_reveal_range=(0.2, 0.9))  # most of a neighbour's glyph could be read
    with pytest.raises(ConfigError, match="context_line_reveal_range"):
        SynthConfig(context_line_reveal_range=(0.1, 0.8))
    with pytest.raises(ConfigError, match="word_space_range"):
        SynthConfig(word_space_range=(0.05, 0.5))  # a space that thin reads as none


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    config = preset("heavy")
    assert SynthConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "synth.json"
    path.write_text('{"preset": "clean", "p_blur": 0.5, "blur_range": [0.2, 0.4]}', encoding="utf-8")
    loaded = SynthConfig.from_file(path)
    assert loaded.p_blur == 0.5 and loaded.blur_range == (0.2, 0.4) and loaded.p_noise == 0.0
    path.write_text('{"p_wobble": 0.5}', encoding="utf-8")
    with pytest.raises(ConfigError, match="p_wobble"):
        SynthConfig.from_file(path)


# -- fonts ---------------------------------------------------------------------------------------------
def test_every_printable_symbol_is_drawn_by_some_selected_font(printable_fonts: list[SelectedFont]) -> None:
    charset = Charset.preset("printable")
    assert printable_fonts, "no test font passed the check"
    assert uncovered_symbols(printable_fonts, charset) == []
    for font in printable_fonts:  # what a font may draw is in its cmap and has ink
        cmap = TTFont(font.face.path, lazy=True).getBestCmap()
        rendered = ImageFont.truetype(font.face.path, 40)
        for char in font.allowed:
            assert ord(char) in cmap, (font.face.path, char)
            assert char == " " or rendered.getbbox(char)[2] > rendered.getbbox(char)[0], (font.face.path, char)


def test_all_capitals_font_never_draws_a_lowercase_label(font_faces: list[FontFace], font_cache: Path) -> None:
    caps = [face for face in font_faces if face.family == "Bebas Neue"]
    if not caps:
        pytest.skip("Bebas Neue (Debian fonts-bebas-neue) is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)
        case_sensitive = select_fonts(caps, Charset.preset("alnum"), cache_dir=font_cache)
        lower_only = select_fonts(caps, Charset.preset("lower-alnum"), cache_dir=font_cache)
    # Its "a" is a capital A: with both cases in the charset it may only draw capitals...
    assert all(not char.islower() for font in case_sensitive for char in font.allowed)
    # ...and with lowercase only, a drawn "A" is labelled "a", which is true.
    assert lower_only and "A" in lower_only[0].allowed and label_for("ROAD", Charset.preset("lower-alnum")) == "road"


def test_bad_font_file_is_skipped_with_a_warning(printable_fonts: list[SelectedFont], tmp_path: Path) -> None:
    good = printable_fonts[0].face.path
    shutil.copy(good, tmp_path / ("good" + Path(good).suffix))
    (tmp_path / "broken.ttf").write_bytes(b"\x00\x01\x00\x00 this is not a font" * 20)
    (tmp_path / "empty.otf").write_bytes(b"")
    with pytest.warns(FontWarning) as caught:
        kept = select_fonts(scan_font_dir(tmp_path), Charset.preset("lower-alnum"), cache_dir=tmp_path / "cache")
    messages = " ".join(str(warning.message) for warning in caught)
    assert "broken.ttf" in messages and "empty.otf" in messages
    assert [Path(font.face.path).stem for font in kept] == ["good"]


# -- samples -------------------------------------------------------------------------------------------
def test_samples_are_deterministic_per_seed_and_index(printable_fonts: list[SelectedFont]) -> None:
    first, second = make_generator(printable_fonts), make_generator(printable_fonts)
    forward = [image_bytes(first.sample(i)[0]) for i in range(6)]
    backward = [image_bytes(second.sample(i)[0]) for i in reversed(range(6))][::-1]
    assert forward == backward
    assert [first.sample(i)[1] for i in range(6)] == [second.sample(i)[1] for i in range(6)]
    other_seed = make_generator(printable_fonts, seed=8)
    assert [image_bytes(other_seed.sample(i)[0]) for i in range(6)] != forward


def test_labels_match_the_glyphs_drawn(printable_fonts: list[SelectedFont], font_cache: Path) -> None:
    for charset_name in ("printable", "lower-alnum"):
        charset = Charset.preset(charset_name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FontWarning)
            fonts = select_fonts([font.face for font in printable_fonts], charset, cache_dir=font_cache)
        generator = make_generator(fonts, charset_name)
        for index in range(40):
            sample = generator.sample_info(index)
            assert sample.label and sample.label == label_for(sample.text, charset)
            assert charset.unknown_symbols(sample.label) == []
            cmap = TTFont(sample.font.face.path, lazy=True).getBestCmap()
            font = ImageFont.truetype(sample.font.face.path, sample.size)
            for char in sample.text:  # render, then check: every character has a glyph with ink
                assert char in sample.font.allowed and ord(char) in cmap
                left, top, right, bottom = font.getbbox(char)
                assert char == " " or (right > left and bottom > top), (sample.font.face.path, char)
            assert sample.image.mode == "RGB" and sample.image.height == 32


def test_tight_crop_keeps_every_glyph(printable_fonts: list[SelectedFont]) -> None:
    # No background, no margins: ink must reach the image's edges but never be cut by them.
    clean = {name: 0.0 for name in SynthConfig.__dataclass_fields__ if name.startswith("p_")}
    generator = make_generator(printable_fonts, **clean)
    for index in range(20):
        sample = generator.sample_info(index)
        gray = np.asarray(sample.image.convert("L"), dtype=np.int16)
        values, counts = np.unique(gray, return_counts=True)
        ink = np.abs(gray - values[counts.argmax()]) > 60  # the flat background is the commonest grey
        columns = np.flatnonzero(ink.any(axis=0))
        assert columns.size and columns[0] <= 4 and columns[-1] >= sample.image.width - 5, sample.text


def test_context_shows_part_of_a_neighbouring_glyph_never_a_whole_one(printable_fonts: list[SelectedFont]) -> None:
    """`scene-words`: words beside the text and lines above or below it are cut by the crop, through
    their nearest glyph (at most 0.3 of its ink, as configured) or their foot or head (at most 0.18 em);
    the text itself is never cut, and its label is unchanged."""
    config = preset("scene-words").with_changes(p_context=1.0)
    generator = SynthGenerator(config, Charset.preset("printable"), printable_fonts, WORDS, seed=5)
    seen = {"left": 0, "right": 0, "above": 0, "below": 0}
    for index in range(60):
        rng = generator._random(index)
        plan = generator._plan(rng)
        context = plan.context
        assert context is not None and plan.label == label_for(plan.text, generator.charset)
        masks = render.bend(render.draw_masks(plan, rng, config), plan, rng, config)
        left, top, right, bottom = (edge - offset for edge, offset in zip(
            render.crop_box(masks, plan, rng, config), masks.origin * 2, strict=True))  # fmt: skip
        own = np.argwhere(np.asarray(masks.parts["own"]) >= 24)
        (own_top, own_left), (own_bottom, own_right) = own.min(axis=0), own.max(axis=0)
        assert left <= own_left and own_right < right and top <= own_top and own_bottom < bottom, plan.text
        font = ImageFont.truetype(plan.font.face.path, plan.size)
        beside = np.flatnonzero((np.asarray(masks.parts["beside"]) >= 24).any(axis=0))  # columns with its ink
        before, after = beside[(beside < own_left) & (beside >= left)], beside[(beside > own_right) & (beside < right)]
        for side, word, shown in (
            ("left", context.left, before[-1] + 1 - left if before.size else 0),
            ("right", context.right, right - after[0] if after.size else 0),
        ):
            if shown:
                x0, _, x1, _ = font.getbbox(word[-1] if side == "left" else word[0])  # the glyph nearest the text
                assert shown <= 0.3 * (x1 - x0) + 2, (side, word, plan.text)
                seen[side] += 1
        lines = np.flatnonzero((np.asarray(masks.parts["lines"])[:, max(0, left) : max(0, right)] >= 24).any(axis=1))
        for side, rows in (("above", lines[(lines >= top) & (lines < own_top)]),
                           ("below", lines[(lines > own_bottom) & (lines < bottom)])):  # fmt: skip
            if rows.size:
                assert rows.size <= 0.18 * plan.size + 1, (side, plan.text)
                seen[side] += 1
    assert min(seen.values()) >= 5, seen  # every kind of context was drawn and cut


def test_text_uses_only_what_the_font_draws() -> None:
    source = TextSource(SynthConfig(), WORDS)
    allowed = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    import random

    rng = random.Random(3)
    texts = [source.text(rng, allowed) for _ in range(300)]
    assert all(text and set(text) <= allowed for text in texts)
    assert any(text.isdigit() for text in texts) and any(text.isalpha() for text in texts)


def test_lines_have_single_inner_spaces_and_fit_the_font() -> None:
    import random

    source = TextSource(SynthConfig(text_mix={"line": 1.0}, max_line_chars=40), WORDS)
    allowed = frozenset(string.printable[:95])
    rng = random.Random(5)
    lines = [source.text(rng, allowed) for _ in range(300)]
    for line in lines:
        assert line == line.strip() and "  " not in line and len(line) <= 40, repr(line)
        assert set(line) <= allowed
    assert sum(" " in line for line in lines) >= 290  # lines have at least two words
    assert max(len(line.split()) for line in lines) >= 5
    # A font without a usable space never gets a line: its text falls back to single words.
    no_space = allowed - {" "}
    assert all(" " not in source.text(rng, no_space) for _ in range(100))


def test_lines_carry_technical_tokens_and_matched_brackets() -> None:
    """Printed manuals show addresses, paths, options and bracketed runs between words; the line
    text must too, or a line reader never learns them (real pages lost most words there)."""
    import random
    import re

    source = TextSource(SynthConfig(text_mix={"line": 1.0}, max_line_chars=64), WORDS)
    allowed = frozenset(string.printable[:95])
    rng = random.Random(11)
    lines = [source.text(rng, allowed) for _ in range(600)]
    joined = "\n".join(lines)
    patterns = (r"https?://|www\.", r"\w_\w", r"(^| )--?\w", r"\w=\w", r"\w@\w", r"\[\d+\]", r"(^| )(\.\./|~/|/\w)")
    for pattern in patterns:
        assert re.search(pattern, joined, re.MULTILINE), pattern
    # A bracketed run of several words opens and closes within the line, in the same kind of bracket.
    assert any(re.search(r"\(\S+ [^()]*\)", line) for line in lines)
    # A quoted word closes with the mark that opened it.
    mismatched = re.compile(r"(^| )(\"\w+'|'\w+\"|\(\w+[\"']|[\"']\w+\))( |$)")
    assert not [line for line in lines if mismatched.search(line)]


def test_broken_words_end_and_start_lines_only_where_asked() -> None:
    """Book columns break words at line ends (``Ludwi-``) and start the next line with the rest; a
    reader that never saw it reads the hyphen as a full stop. Without ``p_line_hyphen``, no line
    does."""
    import random
    import re

    allowed = frozenset(string.printable[:95])
    plain = SynthConfig(text_mix={"line": 1.0}, max_line_chars=64)
    rng = random.Random(3)
    plain_lines = [TextSource(plain, WORDS).text(rng, allowed) for _ in range(400)]
    assert not [line for line in plain_lines if re.search(r"[A-Za-z]{2}-$", line)]
    source = TextSource(plain.with_changes(p_line_hyphen=0.5), WORDS)
    rng = random.Random(3)
    lines = [source.text(rng, allowed) for _ in range(400)]
    ends = [line for line in lines if re.search(r"(^| )[A-Za-z]{2,}-$", line)]
    starts = [line for line in lines if re.match(r"[a-z]{2,} ", line)]
    assert len(ends) >= 80 and len(starts) >= 80
    for line in lines:  # the usual line guarantees hold
        assert line == line.strip() and "  " not in line and len(line) <= 64 and set(line) <= allowed
        assert not re.search(r"-[.!?:;]$", line)  # a broken word takes no closing mark


@pytest.mark.parametrize("name", ["document", "scene-lines"])
def test_line_presets_render_truthful_lines(name: str, printable_fonts: list[SelectedFont], font_cache: Path) -> None:
    charset = Charset.preset("printable+space")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)
        fonts = select_fonts([font.face for font in printable_fonts], charset, cache_dir=font_cache)
    generator = SynthGenerator(preset(name), charset, fonts, WORDS, seed=11)
    spaced = 0
    for index in range(30):
        sample = generator.sample_info(index)
        assert sample.label == label_for(sample.text, charset) and charset.unknown_symbols(sample.label) == []
        assert sample.label == sample.label.strip() and "  " not in sample.label
        if " " in sample.text:
            spaced += 1
            assert sample.font.check.advances[" "] >= 0.15  # the gap a reader sees is really there
        assert sample.image.height == 32 and sample.image.mode == "RGB"
    assert spaced >= 15


def test_justified_lines_draw_every_word_space_at_the_planned_width(
    printable_fonts: list[SelectedFont], font_cache: Path
) -> None:
    """A line's spaces all take the width drawn for it (typesetting's stretched or shrunk spaces): the
    image grows by the spaces' extra width, and by nothing else."""
    import dataclasses
    import random

    from crnn_ctc.synth.render import Plan
    from crnn_ctc.synth.render import render as draw

    config = preset("clean").with_changes(text_mix={"line": 1.0}, p_loose_crop=0.0, p_word_space=1.0)
    charset = Charset.preset("printable+space")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FontWarning)
        fonts = select_fonts([font.face for font in printable_fonts], charset, cache_dir=font_cache)
    generator = SynthGenerator(config, charset, fonts, WORDS, seed=5)
    compared = 0
    for index in range(12):
        plan = generator.plan(index)
        if plan.text.count(" ") < 2:
            continue
        assert config.word_space_range[0] <= plan.word_space <= config.word_space_range[1]
        own = plan.font.check.advances[" "]

        def width(word_space: float, plan: Plan = plan) -> int:  # pixels at the output height: a tight crop
            drawn = dataclasses.replace(plan, word_space=word_space)
            return draw(drawn, random.Random(1), np.random.default_rng(1), config).width

        natural, planned, wider = width(own), width(plan.word_space), width(own + 0.5)
        per_em = (wider - natural) / 0.5  # pixels per em of every space together
        assert per_em > 10 * plan.text.count(" ")  # each space took the extra half em
        assert planned - natural == pytest.approx((plan.word_space - own) * per_em, abs=5)  # 0-2 px crop margins
        compared += 1
    assert compared >= 5


def test_document_preset_prints_dark_ink_on_light_paper(printable_fonts: list[SelectedFont]) -> None:
    config = preset("document").with_changes(p_dark_text=1.0, p_binarize=0.0, p_noise=0.0, p_jpeg=0.0)
    generator = SynthGenerator(config, Charset.preset("printable+space"), printable_fonts, WORDS, seed=4)
    for index in range(10):
        gray = np.asarray(generator.sample(index)[0].convert("L"), dtype=np.float32)
        assert np.median(gray) > 150 and gray.min() < 110


def test_outline_dilation_is_a_round_pen_over_the_glyphs() -> None:
    from crnn_ctc.synth.render import dilate

    dot = np.zeros((9, 9), dtype=np.uint8)
    dot[4, 4] = 200
    disc = dilate(dot, 2)
    assert (disc == 200).sum() == 21 and disc[4, 2] == disc[2, 3] == 200 and disc[2, 2] == 0  # round, not square
    glyphs = np.zeros((20, 40), dtype=np.uint8)
    glyphs[5:15, 10:13] = 255
    glyphs[5:15, 13] = 90  # an anti-aliased edge stays anti-aliased
    outline = dilate(glyphs, 3)
    assert (outline >= glyphs).all() and outline[5:15, 7:16].min() == 255 and outline[10, 16] == 90


def test_woff_fonts_are_unpacked_once_and_draw_the_same_glyphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crnn_ctc.synth import woff

    try:
        woff_faces = [face for face in find_fonts() if face.path.lower().endswith(".woff")]
    except FontError as error:
        pytest.skip(f"no fonts installed ({error})")
    if not woff_faces:
        pytest.skip("no WOFF font installed (the npm Fontsource fonts of `make fonts`)")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(woff, "_opened_as", {})
    path = woff_faces[0].path
    copy = woff.openable(path)
    assert copy != path and Path(copy).is_file() and woff.openable(path) == copy
    drawn = []
    for font_path in (path, copy):
        image = Image.new("L", (400, 80))
        ImageDraw.Draw(image).text((10, 10), "Hamburg 42&Qg", font=ImageFont.truetype(font_path, 37), fill=255)
        drawn.append(image.tobytes())
    assert drawn[0] == drawn[1] and any(drawn[0])
    broken = tmp_path / "broken.woff"
    broken.write_bytes(b"wOFF" + b"\0" * 60)
    assert woff.openable(str(broken)) == str(broken)  # FreeType gets the file itself (and its error)
    assert woff.openable("/fonts/plain.ttf") == "/fonts/plain.ttf"


def test_font_split_is_disjoint_fixed_and_covers_every_font(printable_fonts: list[SelectedFont]) -> None:
    from crnn_ctc.synth.fonts import FONT_SPLITS, font_split, is_heldout_family

    train, heldout = font_split(printable_fonts, "train"), font_split(printable_fonts, "heldout")
    assert len(train) + len(heldout) == len(font_split(printable_fonts, "all")) == len(printable_fonts)
    assert not {f.face.family for f in train} & {f.face.family for f in heldout}
    assert FONT_SPLITS == ("all", "train", "heldout")
    families = [f"Family {number}" for number in range(2000)]
    share = sum(map(is_heldout_family, families)) / len(families)
    assert 0.07 < share < 0.13  # about one family in ten
    assert is_heldout_family("DejaVu Sans") == is_heldout_family(" dejavu sans ")  # by name only
    with pytest.raises(ValueError, match="font split"):
        font_split(printable_fonts, "test")


def test_word_file_with_counts_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "words.txt"
    good.write_text("# comment\ncoffee 10\ntea\t1\n", encoding="utf-8")
    assert load_words(good, 100, 1.0).words == ("coffee", "tea")
    bad = tmp_path / "bad.txt"
    bad.write_text("coffee 10\ntea lots\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad.txt:2"):
        load_words(bad, 100, 1.0)


def test_dataset_is_map_style_with_estimated_sizes(printable_fonts: list[SelectedFont]) -> None:
    generator = make_generator(printable_fonts)
    dataset = SynthDataset(generator, 12, start=100)
    data, label = dataset[3]
    assert isinstance(data, bytes) and label == generator.sample(103)[1]
    with Image.open(io.BytesIO(data)) as image:
        actual = image.size
    assert actual[1] == 32
    estimates = [width for width, _ in dataset.sizes()]
    actual_widths = [generator.sample(100 + i)[0].width for i in range(12)]
    ratios = np.array(estimates) / np.array(actual_widths)
    assert np.median(ratios) == pytest.approx(1.0, abs=0.5)
    with pytest.raises(IndexError):
        dataset[12]


# -- the LMDB ------------------------------------------------------------------------------------------
def test_written_lmdb_is_readable_and_the_same_for_any_worker_count(
    printable_fonts: list[SelectedFont], tmp_path: Path
) -> None:
    generator = make_generator(printable_fonts)
    one = write_synth_dataset(generator, tmp_path / "one", 140, workers=1, grid_count=8)
    write_synth_dataset(generator, tmp_path / "two", 140, workers=2, grid_count=8)
    first, second = LmdbDataset(tmp_path / "one"), LmdbDataset(tmp_path / "two")
    assert len(first) == len(second) == one.count == 140
    assert all(first[i] == second[i] for i in range(140))
    assert first.meta["charset"] == list(Charset.preset("printable").symbols)
    source = open_source(tmp_path / "one")
    data, label = source[5]
    assert label == generator.sample(5)[1]
    with Image.open(io.BytesIO(data)) as image:
        assert image.height == 32 and (image.width, image.height) == source.sizes()[5]
    assert (tmp_path / "one" / GRID_NAME).is_file() and (tmp_path / "one" / "synth.json").is_file()
    with pytest.raises(DatasetError, match="--overwrite"):
        write_synth_dataset(generator, tmp_path / "one", 10)
    assert not list(tmp_path.glob(".one.partial-*"))


def test_synth_command_writes_a_dataset(
    printable_fonts: list[SelectedFont], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    for font in printable_fonts[:3]:
        (fonts_dir / Path(font.face.path).name).symlink_to(font.face.path)
    words = tmp_path / "words.txt"
    words.write_text("alpha\nbeta\ngamma\n", encoding="utf-8")
    parser = argparse.ArgumentParser(prog="crnn")
    add_synth_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["synth", "--count", "20", "--out", str(tmp_path / "out"), "--fonts", str(fonts_dir), "--words", str(words),
         "--height", "24", "--workers", "1", "--seed", "3", "--no-progress"]
    )  # fmt: skip
    assert args.handler(args) == 0
    assert "wrote 20 synthetic images (height 24, seed 3)" in capsys.readouterr().out
    dataset = LmdbDataset(tmp_path / "out")
    assert len(dataset) == 20 and all(height == 24 for _, height in dataset.sizes())
    # The layout engine draws other images from the same seed: it is recorded with them.
    summary = json.loads((tmp_path / "out" / "synth.json").read_text(encoding="utf-8"))
    assert summary["text_layout"] == dataset.meta["text_layout"] == text_layout()
    assert summary["libraries"]["pillow"] == PIL.__version__ and summary["libraries"]["freetype2"]


# -- text layout -----------------------------------------------------------------------------------------
def test_text_is_laid_out_by_the_engine_named_and_basic_layout_is_warned_of(
    printable_fonts: list[SelectedFont], font_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = printable_fonts[0].face.path
    fonts_module.load_font.cache_clear()
    assert fonts_module.load_font(path, 30).layout_engine == (
        ImageFont.Layout.RAQM if text_layout() == "raqm" else ImageFont.Layout.BASIC
    )
    # A machine without libfribidi: Pillow has no Raqm there.
    real_check = fonts_module.features.check_feature
    monkeypatch.setattr(fonts_module.features, "check_feature", lambda name: name != "raqm" and real_check(name))
    monkeypatch.setattr(fonts_module, "_layout_warned", False)
    fonts_module.load_font.cache_clear()
    try:
        assert text_layout() == "basic"
        assert fonts_module.load_font(path, 30).layout_engine == ImageFont.Layout.BASIC
        faces = [font.face for font in printable_fonts[:2]]
        with pytest.warns(LayoutWarning, match="libfribidi0") as caught:
            select_fonts(faces, Charset.preset("printable"), cache_dir=font_cache)
            select_fonts(faces, Charset.preset("printable"), cache_dir=font_cache)
        assert sum(issubclass(warning.category, LayoutWarning) for warning in caught) == 1  # once per process
    finally:
        fonts_module.load_font.cache_clear()


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare to hide a library")
def test_without_libfribidi_pillow_lays_text_out_without_harfbuzz(tmp_path: Path) -> None:
    """The premise of text_layout(): the layout engine follows the system's libfribidi, not our code."""
    from PIL import features

    if not features.check_feature("fribidi"):
        pytest.skip("libfribidi is not installed here")
    maps = Path("/proc/self/maps").read_text().splitlines()
    library = next(line.split()[-1] for line in maps if "libfribidi" in line)
    hidden = tmp_path / "not-a-library"
    hidden.write_bytes(b"")
    probe = "from crnn_ctc.synth.fonts import text_layout; print(text_layout())"
    script = f'mount --bind {hidden} {library} && exec {sys.executable} -c "{probe}"'
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"cannot hide {library} here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "basic"


def test_training_source_takes_fonts_words_and_a_config_file(
    printable_fonts: list[SelectedFont], tmp_path: Path
) -> None:
    from crnn_ctc.preprocess import PreprocessConfig
    from crnn_ctc.training.sources import SourceSpec
    from crnn_ctc.training.synthetic import synthetic_source

    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    for font in printable_fonts[:2]:
        (fonts_dir / Path(font.face.path).name).symlink_to(font.face.path)
    words = tmp_path / "words.txt"
    words.write_text("alpha\nbeta\n", encoding="utf-8")
    config = tmp_path / "plain.json"
    config.write_text('{"preset": "clean", "p_natural": 0.0, "text_mix": {"word": 1.0}}', encoding="utf-8")
    spec = SourceSpec(f"synth:fonts={fonts_dir},words={words},config={config}")
    source = synthetic_source(spec, Charset.preset("lower-alnum"), PreprocessConfig(), seed=0)
    generator = source.dataset.source.generator
    assert generator.config.p_natural == 0.0 and generator.config.p_blur == preset("clean").p_blur
    assert {generator.sample(i)[1] for i in range(12)} <= {"alpha", "beta"}
    sample = source.dataset[0]
    assert sample.image is not None and sample.image.shape[-2] == 32 and sample.label in {"alpha", "beta"}
    assert len(sample.targets) == len(sample.label) and source.infinite

    with pytest.raises(ConfigError, match="not both"):
        synthetic_source(SourceSpec(f"synth:preset=heavy,config={config}"), Charset.preset("lower-alnum"),
                         PreprocessConfig(), seed=0)  # fmt: skip
    with pytest.raises(ConfigError, match="KEY one of"):
        synthetic_source(SourceSpec("synth:colour=red"), Charset.preset("lower-alnum"), PreprocessConfig(), seed=0)


def test_a_run_on_rendered_images_records_their_text_layout(
    printable_fonts: list[SelectedFont], tmp_path: Path
) -> None:
    from crnn_ctc.training import TrainConfig, train

    fonts_dir = tmp_path / "fonts"
    fonts_dir.mkdir()
    for font in printable_fonts[:2]:
        (fonts_dir / Path(font.face.path).name).symlink_to(font.face.path)
    words = tmp_path / "words.txt"
    words.write_text("alpha\nbeta\n", encoding="utf-8")
    source = f"synth:fonts={fonts_dir},words={words}"
    config = TrainConfig(model_dir=str(tmp_path / "run"), train=[source], arch="tiny", charset="lower-alnum",
                         batch_size=4, max_steps=1, workers=0, amp="off")  # fmt: skip
    train(config, progress=False)
    resolved = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))["resolved"]
    assert resolved["text_layout"] == text_layout()


def test_a_shifted_letter_moves_one_inner_letter_only_where_asked(printable_fonts: list[SelectedFont]) -> None:
    """`p_shifted_letter` draws a logo's displaced letter (TeX's lowered E): the middle letter of TEX moves
    by the configured share of the em, so the ink grows that much taller; at 0 nothing moves."""
    import random

    clean = {name: 0.0 for name in SynthConfig.__dataclass_fields__ if name.startswith("p_")}
    font = next(font for font in printable_fonts if font.face.family == "DejaVu Sans")
    plan = render.Plan(text="TEX", label="TEX", font=font, size=40, spacing=0.0, fake_bold=0)

    def ink_height(config: SynthConfig, seed: int) -> int:
        rows = np.flatnonzero((np.asarray(render.draw_masks(plan, random.Random(seed), config).glyphs) >= 24).any(1))
        return int(rows[-1] - rows[0] + 1)

    plain = SynthConfig().with_changes(**clean)
    shifted = plain.with_changes(p_shifted_letter=1.0, shifted_letter_range=(0.25, 0.25), letter_tuck_range=(0.1, 0.1))
    upright = ink_height(plain, 0)
    assert {ink_height(plain, seed) for seed in range(6)} == {upright}
    assert all(abs(ink_height(shifted, seed) - (upright + 10)) <= 1 for seed in range(6))
    assert render._inner_letters("TEX the a-b") == [1, 5]
    with pytest.raises(ConfigError, match="shifted_letter_range"):
        SynthConfig(shifted_letter_range=(0.2, 0.6))


def test_width_scale_condenses_or_extends_the_crop_only_where_asked(printable_fonts: list[SelectedFont]) -> None:
    """`p_width_scale` draws the same sample narrower or wider, the label unchanged, and the width
    estimate used to plan batches follows; at 0 no draw is made, so other configs keep their images."""
    unscaled = make_generator(printable_fonts, p_width_scale=1.0, width_scale_range=(1.0, 1.0))
    condensed = make_generator(printable_fonts, p_width_scale=1.0, width_scale_range=(0.7, 0.7))
    for index in range(8):
        (full, full_label), (narrow, narrow_label) = unscaled.sample(index), condensed.sample(index)
        assert narrow_label == full_label and narrow.height == full.height
        assert abs(narrow.width - 0.7 * full.width) <= 1.5
        assert abs(condensed.estimated_width(index) - 0.7 * unscaled.estimated_width(index)) <= 1.5
    assert {make_generator(printable_fonts, p_width_scale=0.5).plan(i).width_scale for i in range(40)} > {1.0}
    plain = make_generator(printable_fonts)
    assert {plain.plan(i).width_scale for i in range(20)} == {1.0}
    assert [plain.plan(i) for i in range(6)] == [make_generator(printable_fonts, width_scale_range=(0.5, 0.6)).plan(i)
                                                 for i in range(6)]  # fmt: skip
    with pytest.raises(ConfigError, match="width_scale_range"):
        SynthConfig(width_scale_range=(0.3, 1.0))
