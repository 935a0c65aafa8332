"""``inference``: the one loop of ``Recognizer`` and the service's batcher, with an engine that spells each
image's true width, so that an answer given to the wrong input, or a group of mixed widths, shows."""

from __future__ import annotations

import numpy as np
import pytest

from crnn_ctc.charset import Charset
from crnn_ctc.decode import DecoderOptions, GreedyDecoder
from crnn_ctc.errors import ImageError
from crnn_ctc.inference import group_by_width, recognize_window, run_group
from crnn_ctc.preprocess import MIN_WIDTH_FILL, PreprocessConfig, preprocess, width_groups

DIGITS = Charset.from_string("0123456789")
CONFIG = PreprocessConfig()  # height 32: an image 32 pixels high keeps its width (a multiple of 4)


class WidthEngine:
    """Log-probs whose best path spells the image's true width: ``run`` of a batch of widths 120 and 64
    reads "120" and "64". It records the widths of every call."""

    name = "width"

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls.append([int(width) for width in widths])
        lengths = widths // 4
        probs = np.full((len(widths), batch.shape[3] // 4, DIGITS.num_classes), 0.01)
        probs[:, :, 0] = 0.9  # blank
        for row, width in enumerate(widths):
            for position, symbol in enumerate(DIGITS.encode(str(int(width)))):
                probs[row, 2 * position + 1, 0] = 0.01
                probs[row, 2 * position + 1, symbol] = 0.9
        probs /= probs.sum(axis=2, keepdims=True)
        return np.log(probs).astype(np.float32), lengths.astype(np.int64)


class RecordingDecoder(GreedyDecoder):
    def __init__(self) -> None:
        super().__init__(DIGITS)
        self.names: list[list[str]] = []

    def decode(self, log_probs, lengths, names=None):  # type: ignore[no-untyped-def]
        self.names.append(list(names or []))
        return super().decode(log_probs, lengths, names)


def _image(width: int) -> np.ndarray:
    return np.full((32, width), 200, dtype=np.uint8)


def test_a_window_is_read_in_groups_of_similar_widths_and_answered_in_input_order() -> None:
    widths = [120, 64, 400, 124, 60, 112, 396, 68, 128]
    inputs = [(_image(width), f"image{index}") for index, width in enumerate(widths)]
    inputs.insert(3, (b"", "empty"))  # unreadable: reported in its place
    engine, decoder = WidthEngine(), RecordingDecoder()
    outcomes = recognize_window(engine, decoder, inputs, CONFIG, batch_size=2, errors="report")

    assert isinstance(outcomes[3], ImageError) and outcomes[3].source == "empty"
    read = [outcome for outcome in outcomes if not isinstance(outcome, ImageError)]
    assert [decoded.text for decoded in read] == [str(width) for width in widths]
    assert all(0.0 < decoded.confidence <= 1.0 for decoded in read)
    # Widest first, at most batch_size a pass, each pass within MIN_WIDTH_FILL of its widest.
    assert [width for call in engine.calls for width in call] == sorted(widths, reverse=True)
    for call in engine.calls:
        assert len(call) <= 2 and min(call) >= MIN_WIDTH_FILL * max(call)
    # Each pass decoded in one call, with its images' names in the pass's order.
    names_by_width = {width: f"image{index}" for index, width in enumerate(widths)}
    assert decoder.names == [[names_by_width[width] for width in call] for call in engine.calls]


def test_an_unreadable_input_raises_before_any_forward_pass() -> None:
    engine = WidthEngine()
    inputs = [(_image(64), "good"), (b"", "empty"), (_image(80), "after")]
    with pytest.raises(ImageError, match="empty"):
        recognize_window(engine, RecordingDecoder(), inputs, CONFIG, batch_size=8)
    assert engine.calls == []


def test_run_group_decodes_the_rows_asked_for_and_hands_back_the_others_log_probs() -> None:
    widths = [128, 120, 124]
    arrays = [preprocess(_image(width), CONFIG) for width in widths]
    decoder = RecordingDecoder()
    output = run_group(WidthEngine(), decoder, arrays, ["a", "b", "c"], decode=[True, False, True])

    assert decoder.names == [["a", "c"]]
    assert [None if decoded is None else decoded.text for decoded in output.decoded] == ["128", None, "124"]
    rest = output.row_log_probs(1)
    assert rest.shape == (1, 120 // 4, DIGITS.num_classes) and rest.flags.c_contiguous
    [elsewhere] = decoder.decode(rest, np.array([rest.shape[1]]), ["b"])
    assert elsewhere.text == "120"
    assert output.forward_s >= 0 and output.decode_s >= 0

    everything = run_group(WidthEngine(), decoder, arrays, ["a", "b", "c"])
    assert [decoded.text for decoded in everything.decoded if decoded is not None] == ["128", "120", "124"]


def test_group_by_width_is_width_groups_over_any_items() -> None:
    widths = [100, 40, 96, 200, 92, 44, 180, 100]
    items = [f"item{index}" for index in range(len(widths))]
    expected = [[items[index] for index in group] for group in width_groups(widths, 3)]
    assert group_by_width(items, widths, 3) == expected


def test_decoder_options_are_hashable_and_equal_for_the_same_words() -> None:
    listed = DecoderOptions(lexicon=["alpha", "beta"], allow="ab")
    assert listed.lexicon == ("alpha", "beta")
    assert listed == DecoderOptions(lexicon=("alpha", "beta"), allow="ab")
    assert hash(listed) == hash(DecoderOptions(lexicon=iter(["alpha", "beta"]), allow="ab"))
    assert listed != DecoderOptions(lexicon=["alpha"], allow="ab")
    per_image = DecoderOptions(image_lexicons={"x.png": ["ok", "no"]})
    assert {per_image: 1}[DecoderOptions(image_lexicons={"x.png": ("ok", "no")})] == 1


class NarrowUnsureEngine(WidthEngine):
    """``WidthEngine``, sure of every step (0.999) of images 100 pixels wide or more, and unsure of the
    symbols (0.6) of narrower ones."""

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        log_probs, lengths = super().run(batch, widths)
        best = log_probs.argmax(axis=2)
        probs = np.full(log_probs.shape, 1e-4)
        for row, width in enumerate(widths):
            for step, symbol in enumerate(best[row]):
                sure = 0.999 if width >= 100 or symbol == 0 else 0.6
                probs[row, step, symbol] = sure
                if sure < 0.9:
                    probs[row, step, 0] = 1 - sure
        probs /= probs.sum(axis=2, keepdims=True)
        return np.log(probs).astype(np.float32), lengths


def test_auto_reads_an_unsure_image_wider_and_keeps_the_more_confident_reading() -> None:
    """``auto``: an image read unsure at its width (96) is read 1.15 times wider (112, a multiple of 4;
    sure) and that reading is kept; one read sure (124) is read once; without ``wider`` the unsure
    reading stands."""
    from crnn_ctc.decode import make_decoder

    engine = NarrowUnsureEngine()
    decoder = make_decoder("auto", DIGITS, DecoderOptions(wider=1.15))
    inputs = [(_image(96), "narrow"), (_image(124), "wide")]
    narrow, wide = recognize_window(engine, decoder, inputs, CONFIG, batch_size=4, positions=True)
    assert (narrow.text, wide.text) == ("112", "124")
    assert len(narrow.positions) == 3
    assert engine.calls == [[124], [96], [112]]  # 96 is under 0.85 of 124: a batch of its own
    plain = make_decoder("auto", DIGITS, DecoderOptions(wider=None))
    unsure, _ = recognize_window(NarrowUnsureEngine(), plain, inputs, CONFIG, batch_size=4)
    assert unsure.text == "96" and unsure.confidence < narrow.confidence
