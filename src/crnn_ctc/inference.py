"""The inference loop, written once: inputs preprocessed (each unreadable one's error kept in its place), cut
into groups of similar widths, one forward pass a group, decoded.

``Recognizer`` runs its windows of inputs through ``recognize_window``. The service's batcher gathers
preprocessed images from concurrent requests, forms its own groups, and runs each through ``run_group``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import numpy as np

from .decode import AutoDecoder, Decoded, Decoder
from .decode.align import char_positions
from .errors import ImageError
from .preprocess import DEFAULT_MAX_PIXELS, ImageInput, PreprocessConfig, collate, preprocess, width_groups

if TYPE_CHECKING:
    from .runtime.base import Engine

Item = TypeVar("Item")


def preprocess_each(
    inputs: Iterable[tuple[ImageInput, str]],
    config: PreprocessConfig,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    width_scale: float = 1.0,
) -> Iterator[np.ndarray | ImageError]:
    """Each (input, source name) as a (C, H, w) array, or the ``ImageError`` that says why it cannot be
    read; in order, one at a time (a caller that stops at the first error reads nothing after it)."""
    for image, source in inputs:
        try:
            yield preprocess(image, config, name=source, max_pixels=max_pixels, width_scale=width_scale)
        except ImageError as error:
            yield error


def group_by_width(items: Sequence[Item], widths: Sequence[int], max_batch: int) -> list[list[Item]]:
    """``items`` widest first, in groups of at most ``max_batch`` whose widths stay close
    (``preprocess.width_groups``: on a CPU padding costs as much as image)."""
    return [[items[index] for index in group] for group in width_groups(widths, max_batch)]


@dataclass(frozen=True)
class GroupOutput:
    """One forward pass: every row's log-probs and valid steps, the rows decoded, and each stage's time."""

    log_probs: np.ndarray  # (N, T, classes)
    lengths: np.ndarray  # (N,)
    decoded: list[Decoded | None]  # one a row; None for a row left to its caller to decode
    forward_s: float  # padding the batch and the engine
    decode_s: float

    def row_log_probs(self, row: int) -> np.ndarray:
        """Row ``row``'s log-probs over its valid steps, (1, steps, classes), for a decoder elsewhere."""
        return np.ascontiguousarray(self.log_probs[row : row + 1, : int(self.lengths[row])])


def run_group(
    engine: Engine,
    decoder: Decoder,
    arrays: Sequence[np.ndarray],
    names: Sequence[str],
    decode: Sequence[bool] | None = None,
) -> GroupOutput:
    """``arrays`` (preprocessed, of similar widths) padded into one batch, one forward pass, and the rows
    that ``decode`` marks (every row when None) decoded with ``decoder`` in one call."""
    started = time.perf_counter()
    batch, widths = collate(arrays)
    log_probs, lengths = engine.run(batch, widths)
    forwarded = time.perf_counter()
    rows = [row for row in range(len(arrays)) if decode is None or decode[row]]
    decoded: list[Decoded | None] = [None] * len(arrays)
    if len(rows) == len(arrays):
        decoded = list(decoder.decode(log_probs, lengths, names=list(names)))
    elif rows:
        row_names = [names[row] for row in rows]
        for row, result in zip(rows, decoder.decode(log_probs[rows], lengths[rows], names=row_names), strict=True):
            decoded[row] = result
    finished = time.perf_counter()
    return GroupOutput(log_probs, lengths, decoded, forward_s=forwarded - started, decode_s=finished - forwarded)


def recognize_window(
    engine: Engine,
    decoder: Decoder,
    inputs: Sequence[tuple[ImageInput, str]],
    config: PreprocessConfig,
    *,
    batch_size: int,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    errors: Literal["raise", "report"] = "raise",
    positions: bool = False,
) -> list[Decoded | ImageError]:
    """Each (input, source name)'s ``Decoded`` in input order, through forward passes of at most
    ``batch_size`` images of similar widths. An unreadable input raises its ``ImageError`` before any
    forward pass (``errors="raise"``), or takes its place in the answer (``errors="report"``).
    ``positions``: each ``Decoded`` also says where its characters lie (``align.char_positions``)."""
    outcomes: list[Decoded | ImageError | None] = [None] * len(inputs)
    arrays: dict[int, np.ndarray] = {}
    for slot, prepared in enumerate(preprocess_each(inputs, config, max_pixels=max_pixels)):
        if isinstance(prepared, ImageError):
            if errors == "raise":
                raise prepared
            outcomes[slot] = prepared
        else:
            arrays[slot] = prepared
    # The auto decoder that may read unsure images wider: greedy first, the rest once the wider readings are in.
    auto = decoder if isinstance(decoder, AutoDecoder) and decoder.wider is not None else None
    rows: dict[int, np.ndarray] = {}  # log-probs (steps, classes) of the images still needed: unsure, or placed
    for group, output in _forward(engine, auto.greedy if auto else decoder, arrays, inputs, batch_size):
        for row, (slot, decoded) in enumerate(zip(group, output.decoded, strict=True)):
            outcomes[slot] = decoded
            if positions or (auto is not None and auto.unsure(decoded)):
                rows[slot] = output.row_log_probs(row)[0]
    if auto is not None:
        _read_unsure_wider(engine, auto, inputs, config, outcomes, rows, batch_size, max_pixels)
    if positions:
        for slot, log_probs in rows.items():
            read = outcomes[slot]
            assert isinstance(read, Decoded)
            places = char_positions(log_probs, read.text, decoder.charset)
            outcomes[slot] = dataclasses.replace(read, positions=places)
    return [outcome for outcome in outcomes if outcome is not None]


def _forward(
    engine: Engine,
    decoder: Decoder,
    arrays: dict[int, np.ndarray],
    inputs: Sequence[tuple[ImageInput, str]],
    batch_size: int,
) -> Iterator[tuple[list[int], GroupOutput]]:
    """Each group of similar widths among ``arrays`` (by slot) and its ``run_group`` output."""
    slots = list(arrays)
    for group in group_by_width(slots, [arrays[slot].shape[2] for slot in slots], batch_size):
        yield group, run_group(engine, decoder, [arrays[slot] for slot in group], [inputs[slot][1] for slot in group])


def _read_unsure_wider(
    engine: Engine,
    auto: AutoDecoder,
    inputs: Sequence[tuple[ImageInput, str]],
    config: PreprocessConfig,
    outcomes: list[Decoded | ImageError | None],
    rows: dict[int, np.ndarray],
    batch_size: int,
    max_pixels: int,
) -> None:
    """The ``auto`` decoder's second look at the images its greedy reading is unsure of: each read again
    ``auto.wider`` times wider, then ``AutoDecoder.settle``. Updates ``outcomes`` and ``rows``."""
    unsure = {slot: read for slot, read in enumerate(outcomes) if isinstance(read, Decoded) and auto.unsure(read)}
    assert auto.wider is not None
    slots = list(unsure)
    prepared = preprocess_each([inputs[slot] for slot in slots], config, max_pixels=max_pixels, width_scale=auto.wider)
    arrays = {slot: array for slot, array in zip(slots, prepared, strict=True) if not isinstance(array, ImageError)}
    wider: dict[int, tuple[Decoded, np.ndarray]] = {}
    for group, output in _forward(engine, auto.greedy, arrays, inputs, batch_size):
        for row, (slot, decoded) in enumerate(zip(group, output.decoded, strict=True)):
            if decoded is not None:
                wider[slot] = (decoded, output.row_log_probs(row)[0])
    auto.settle(unsure, rows, wider, {slot: inputs[slot][1] for slot in slots})
    for slot, reading in unsure.items():
        outcomes[slot] = reading
