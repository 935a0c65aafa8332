import numpy as np
import pytest
from PIL import Image

from conftest import WORDS, render_word
from crnn_ctc import ImageError, Prediction, Recognizer
from crnn_ctc.preprocess import collate, preprocess


@pytest.fixture(scope="module")
def recognizer(model_path) -> Recognizer:
    return Recognizer.load(model_path, device="cpu")


def _same(a: Prediction, b: Prediction) -> None:
    assert a.text == b.text
    assert a.confidence == pytest.approx(b.confidence, rel=1e-4)
    assert a.char_probs == pytest.approx(b.char_probs, rel=1e-4)


def test_reads_the_words_it_was_trained_on(recognizer, word_images) -> None:
    """Preprocessing, CTC lengths and greedy decoding agree, double letters included."""
    predictions = recognizer.recognize(word_images)
    assert [p.text for p in predictions] == WORDS
    assert all(0.0 < p.confidence <= 1.0 for p in predictions)


def test_engine_gives_padded_images_the_same_outputs(recognizer, word_images) -> None:
    arrays = [preprocess(path, recognizer.preprocess_config) for path in word_images]
    batch, widths = collate(arrays)
    assert len(set(widths.tolist())) > 3
    log_probs, lengths = recognizer.engine.run(batch, widths)
    for row, array in enumerate(arrays):
        alone, alone_lengths = recognizer.engine.run(array[None], widths[row : row + 1])
        assert lengths[row] == alone_lengths[0] == alone.shape[1]
        np.testing.assert_allclose(log_probs[row, : lengths[row]], alone[0], atol=1e-4)


def test_batch_equals_one_by_one(recognizer, word_images) -> None:
    singles = [recognizer.recognize(path)[0] for path in word_images]
    for batch_size in (3, 64):
        batched = recognizer.recognize(word_images, batch_size=batch_size)
        assert [p.source for p in batched] == [str(p) for p in word_images]  # input order kept
        for one, many in zip(singles, batched, strict=True):
            _same(one, many)


def test_every_input_form_is_accepted(recognizer, word_images) -> None:
    path = word_images[0]
    image = Image.open(path)
    forms = [path, str(path), path.read_bytes(), image, image.convert("RGBA"), image.convert("P"), np.asarray(image)]
    predictions = recognizer.recognize(forms)
    assert len(predictions) == len(forms)
    for prediction in predictions:
        _same(prediction, predictions[0])
        assert 0.0 <= prediction.confidence <= 1.0
        assert len(prediction.char_probs) == len(prediction.text)


def test_bad_image_raises_or_is_reported_in_place(recognizer, word_images, tmp_path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    inputs = [word_images[0], broken, word_images[1]]
    with pytest.raises(ImageError, match=r"broken\.png"):
        recognizer.recognize(inputs)
    reported = list(recognizer.iter_recognize(inputs, errors="report"))
    assert [p.ok for p in reported] == [True, False, True]
    assert reported[1].source == str(broken)
    assert "corrupt" in reported[1].error or "not an image" in reported[1].error
    _same(reported[2], recognizer.recognize(word_images[1])[0])


def test_streams_more_images_than_one_window(recognizer) -> None:
    images = [render_word("ab" * (1 + i % 7)) for i in range(40)]
    streamed = list(recognizer.iter_recognize(iter(images), batch_size=3))
    assert len(streamed) == 40
    for image, prediction in zip(images[:5], streamed[:5], strict=True):
        _same(prediction, recognizer.recognize(image)[0])


def test_invalid_arguments(recognizer) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        recognizer.recognize([render_word("x")], batch_size=0)
    with pytest.raises(ValueError, match="errors"):
        list(recognizer.iter_recognize([render_word("x")], errors="ignore"))


def test_positions_say_where_each_character_lies(recognizer, word_images) -> None:
    """``positions=True``: one place a character, in order, inside the image; the text is unchanged."""
    plain = recognizer.recognize(word_images)
    placed = list(recognizer.iter_recognize(word_images, positions=True))
    assert [p.text for p in placed] == [p.text for p in plain]
    for prediction in placed:
        assert len(prediction.positions) == len(prediction.text)
        assert list(prediction.positions) == sorted(prediction.positions)
        assert all(0.0 <= place <= 1.0 for place in prediction.positions)
    assert all(p.positions == () for p in plain)
