import io

import numpy as np
import pytest
from PIL import Image

from conftest import render_word
from crnn_ctc.errors import ConfigError, ImageError
from crnn_ctc.preprocess import PAD_VALUE, PreprocessConfig, collate, image_to_array, load_image, preprocess

CONFIG = PreprocessConfig()


def test_width_keeps_aspect_ratio_rounded_and_clamped() -> None:
    config = PreprocessConfig(height=32, min_width=16, max_width=400, width_multiple=4)
    assert config.target_width(200, 64) == 100
    assert config.target_width(203, 64) % 4 == 0
    assert config.target_width(5, 100) == 16  # a sliver is widened to the minimum
    assert config.target_width(10_000, 32) == 400  # a very long line is squeezed to the maximum
    assert PreprocessConfig(fixed_width=100).target_width(37, 80) == 100


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ConfigError):
        PreprocessConfig(channels=2)
    with pytest.raises(ConfigError):
        PreprocessConfig(min_width=50, max_width=20)
    with pytest.raises(ConfigError, match="unknown preprocess"):
        PreprocessConfig.from_dict({"height": 32, "colour": "blue"})


def test_output_shape_range_and_normalisation() -> None:
    image = render_word("hello")
    array = preprocess(image, CONFIG)
    assert array.dtype == np.float32
    assert array.shape == (1, 32, CONFIG.target_width(*image.size))
    assert array.max() == pytest.approx(1.0)  # white paper
    assert array.min() < -0.5  # dark ink
    rgb = preprocess(image, PreprocessConfig(channels=3))
    assert rgb.shape == (3, *array.shape[1:])


def _encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_every_input_form_gives_the_same_tensor(tmp_path) -> None:
    gray = render_word("coffee")
    reference = preprocess(gray, CONFIG)
    path = tmp_path / "w.png"
    gray.save(path)
    pixels = np.asarray(gray)
    rgba = gray.convert("RGBA")
    forms = {
        "path str": str(path),
        "path object": path,
        "bytes": _encoded(gray),
        "bytearray": bytearray(_encoded(gray)),
        "PIL RGB": gray.convert("RGB"),
        "PIL palette": gray.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256),
        "PIL RGBA": rgba,
        "array gray": pixels,
        "array gray (H,W,1)": pixels[:, :, None],
        "array RGB": np.stack([pixels] * 3, axis=2),
        "array RGBA": np.asarray(rgba),
        "array uint16": pixels.astype(np.uint16) * 257,
        "array float": pixels.astype(np.float32) / 255.0,
        "16-bit PNG": _encoded(Image.fromarray(pixels.astype(np.uint16) * 257)),
    }
    for name, source in forms.items():
        result = preprocess(source, CONFIG)
        assert result.shape == reference.shape, name
        assert np.abs(result - reference).max() < 0.02, name


def test_transparency_is_flattened_onto_white() -> None:
    ink = np.zeros((32, 64, 4), dtype=np.uint8)  # black, fully transparent...
    ink[10:20, 10:50, 3] = 255  # ...except an opaque black bar
    array = preprocess(ink, CONFIG)
    assert array[0, 0, 0] == pytest.approx(1.0)  # transparent background reads as white paper
    assert array[0, 15, 30] == pytest.approx(-1.0)  # the opaque ink stays black


def test_exif_orientation_is_applied() -> None:
    wide = render_word("rotate")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees
    data = _encoded(wide, "JPEG", exif=exif)
    loaded = load_image(data)
    assert loaded.size == (wide.height, wide.width)


def test_bool_array_is_black_and_white() -> None:
    mask = np.ones((32, 40), dtype=bool)
    mask[:, :20] = False
    array = preprocess(mask, CONFIG)
    assert array[0, 0, 0] == pytest.approx(-1.0)
    assert array[0, 0, -1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.png", None, "no such file"),
        ("empty.png", b"", "empty file"),
        (".", None, "directory"),
        ("text.png", b"hello, not an image", "not an image"),
    ],
)
def test_unusable_files_raise_image_error_naming_the_file(tmp_path, name, content, reason) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_bytes(content)
    with pytest.raises(ImageError, match=reason) as caught:
        preprocess(source, CONFIG)
    assert str(source) in str(caught.value)


def test_truncated_image_is_refused(tmp_path) -> None:
    data = _encoded(render_word("truncated", scale=3))
    with pytest.raises(ImageError, match="corrupt or truncated"):
        preprocess(data[: len(data) // 2], CONFIG, name="cut.png")


def test_bad_arrays_are_refused() -> None:
    with pytest.raises(ImageError, match="no pixels"):
        preprocess(np.zeros((0, 10), dtype=np.uint8), CONFIG)
    with pytest.raises(ImageError, match="shape"):
        preprocess(np.zeros((4, 4, 4, 4), dtype=np.uint8), CONFIG)
    with pytest.raises(ImageError, match="NaN"):
        preprocess(np.full((8, 8), np.nan), CONFIG)
    with pytest.raises(ImageError, match=r"0\.\.65535"):
        preprocess(np.full((8, 8), -3, dtype=np.int32), CONFIG)
    with pytest.raises(ImageError, match="empty input"):
        preprocess(b"", CONFIG)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 8000 x 8000 one-bit pixels compress to a few kilobytes but would decode to 64 MP.
    bomb = _encoded(Image.new("1", (8000, 8000), 1))
    assert len(bomb) < 100_000
    with pytest.raises(ImageError, match="decompression bomb"):
        preprocess(bomb, CONFIG, name="bomb.png")
    with pytest.raises(ImageError, match="over the limit"):
        preprocess(render_word("small"), CONFIG, max_pixels=100)


def test_collate_pads_to_widest_and_returns_true_widths() -> None:
    arrays = [np.ones((1, 32, width), dtype=np.float32) for width in (40, 100, 16)]
    batch, widths = collate(arrays)
    assert batch.shape == (3, 1, 32, 100)
    assert widths.tolist() == [40, 100, 16]
    assert (batch[0, :, :, 40:] == PAD_VALUE).all()
    assert (batch[0, :, :, :40] == 1).all()
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_width_groups_batch_similar_widths_widest_first() -> None:
    from crnn_ctc.preprocess import width_groups

    widths = [100, 40, 98, 45, 300, 99, 41, 42]
    groups = width_groups(widths, max_batch=2, min_fill=0.9)
    assert sorted(index for group in groups for index in group) == list(range(len(widths)))  # each image once
    assert groups == [[4], [0, 5], [2], [3, 7], [6, 1]]
    assert all(len(group) <= 2 for group in groups)
    assert width_groups(widths, max_batch=64, min_fill=0.0) == [[4, 0, 5, 2, 3, 7, 6, 1]]  # plain sorted batches
    assert width_groups([], max_batch=8) == []
    with pytest.raises(ValueError, match="max_batch"):
        width_groups(widths, max_batch=0)


def test_an_image_can_be_read_wider_through_the_same_path() -> None:
    """``width_scale`` stretches the width the image is resized to (a multiple of 4 still), nothing else."""
    config = PreprocessConfig()
    assert config.target_width(100, 32) == 100
    assert config.target_width(100, 32, width_scale=1.15) == 116  # 115, to a multiple of 4
    assert config.target_width(100, 64, width_scale=1.15) == 56  # 57.5, to a multiple of 4
    image = Image.new("L", (100, 32), 128)
    assert image_to_array(image, config, width_scale=1.15).shape == (1, 32, 116)
    assert PreprocessConfig(fixed_width=200).target_width(100, 32, width_scale=1.15) == 200
