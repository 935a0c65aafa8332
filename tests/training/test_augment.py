"""Training-time augmentation of stored images: same shape, reproducible per epoch, nothing cut off."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from crnn_ctc.preprocess import PreprocessConfig, image_to_array
from crnn_ctc.training.augment import Augmentation, augment, placement, seed_for


def _word_array(config: PreprocessConfig, width: int = 120) -> np.ndarray:
    image = Image.new("RGB", (width, 40), (200, 190, 170))
    ImageDraw.Draw(image).text((6, 8), "Word 42", fill=(20, 20, 60), font_size=24)
    return image_to_array(image, config)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_and_range_are_kept(channels: int) -> None:
    config = PreprocessConfig(channels=channels)
    array = _word_array(config)
    for seed in range(30):
        out = augment(array, config, random.Random(seed))
        assert out.shape == array.shape and out.dtype == np.float32
        low, high = -config.mean / config.std, (1 - config.mean) / config.std
        assert out.min() >= low - 1e-6 and out.max() <= high + 1e-6


def test_draws_are_fixed_by_seed_epoch_source_and_index() -> None:
    config = PreprocessConfig()
    array = _word_array(config)
    again = augment(array, config, random.Random(seed_for(1, 2, 0, 7)))
    np.testing.assert_array_equal(augment(array, config, random.Random(seed_for(1, 2, 0, 7))), again)
    keys = {seed_for(1, epoch, source, index) for epoch in range(5) for source in range(3) for index in range(50)}
    assert len(keys) == 5 * 3 * 50
    next_epoch = augment(array, config, random.Random(seed_for(1, 3, 0, 7)))
    assert not np.array_equal(next_epoch, again)


@pytest.mark.parametrize("size", [(16, 32), (40, 32), (128, 32), (1280, 32), (32, 100)])
def test_the_whole_image_stays_inside_the_canvas(size: tuple[int, int]) -> None:
    """The label stays true: every corner of the input lands inside the output, at the strongest settings too."""
    width, height = size
    strong = Augmentation(max_rotation_degrees=10.0, max_shear=0.5)
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=float)
    for seed in range(300):
        linear, centre = placement(width, height, random.Random(seed), strong)
        moved = (corners - [width / 2, height / 2]) @ linear.T + centre
        assert moved[:, 0].min() >= -1e-9 and moved[:, 0].max() <= width + 1e-9
        assert moved[:, 1].min() >= -1e-9 and moved[:, 1].max() <= height + 1e-9


def test_ink_at_both_ends_survives_the_geometry() -> None:
    """Bars touching the left and right edges (a word's first and last letters) are both still drawn
    after the strongest rotation and slant, on a background the fill matches."""
    config = PreprocessConfig()
    image = Image.new("L", (100, 32), 230)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 8, 3, 24), fill=10)
    draw.rectangle((96, 8, 99, 24), fill=10)
    array = image_to_array(image, config)
    strong = Augmentation(p_geometry=1.0, max_rotation_degrees=10.0, max_shear=0.5, p_photometric=0.0)
    for seed in range(20):
        out = augment(array, config, random.Random(seed), strong)
        dark = out[0] < 0.0  # darker than mid-grey
        columns = np.flatnonzero(dark.any(axis=0))
        gaps = np.flatnonzero(np.diff(columns) > 1)
        assert len(gaps) == 1, f"seed {seed}: expected two separate bars, got dark columns {columns}"


def test_run_samples_perturb_stored_images_per_epoch_and_never_rendered_ones(tmp_path) -> None:
    from conftest import render_word
    from crnn_ctc.charset import Charset
    from crnn_ctc.model import ModelConfig
    from crnn_ctc.training.sources import PlannedKey, PreparedSource, RunSamples, SourceSpec, prepare_source

    folder = tmp_path / "words"
    folder.mkdir()
    lines = []
    for number, word in enumerate(["coffee", "street", "moon"]):
        render_word(word).save(folder / f"{number}.png")
        lines.append(f"{number}.png\t{word}")
    (folder / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    charset, config = Charset.preset("lower-alnum"), PreprocessConfig()
    geometry = ModelConfig.for_arch("tiny", len(charset.symbols) + 1)
    stored = prepare_source(SourceSpec(str(folder)), charset, config, geometry)
    rendered = PreparedSource("rendered", stored.dataset, [], [], 1.0, infinite=True)

    def image(samples: RunSamples, epoch: int, source: int = 0) -> np.ndarray:
        return samples[PlannedKey(epoch, 0, False, source, 1)][1].image

    plain = RunSamples([stored, rendered])
    augmented = RunSamples([stored, rendered], augment=config, seed=3)
    np.testing.assert_array_equal(image(augmented, 0), image(RunSamples([stored, rendered], augment=config, seed=3), 0))
    assert not np.array_equal(image(augmented, 0), image(augmented, 1))
    assert not np.array_equal(image(augmented, 0), image(plain, 0))
    np.testing.assert_array_equal(image(augmented, 0, source=1), image(plain, 0, source=1))
