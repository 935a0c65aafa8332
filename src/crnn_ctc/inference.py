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

from .decode import Decoded, Decoder
from .decode.align import char_positions
from .errors import ImageError
from .preprocess import DEFAULT_MAX_PIXELS, ImageInput, PreprocessConfig, collate, preprocess, width_groups

if TYPE_CHECKING:
    from .runtime.base import Engine

Item = TypeVar("Item")


def preprocess_each(
    inputs: Iterable[tuple[ImageInput, str]], config: PreprocessConfig, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Iterator[np.ndarray | ImageError]:
    """Each (input, source name) as a (C, H, w) array, or the ``ImageError`` that says why it cannot be
    read; in order, one at a time (a caller that stops at the first error reads nothing after it)."""
    for image, source in inputs:
        try:
            yield preprocess(image, config, name=source, max_pixels=max_pixels)
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
    readable = list(arrays)
    for group in group_by_width(readable, [arrays[slot].shape[2] for slot in readable], batch_size):
        output = run_group(engine, decoder, [arrays[slot] for slot in group], [inputs[slot][1] for slot in group])
        for row, (slot, decoded) in enumerate(zip(group, output.decoded, strict=True)):
            if positions and decoded is not None:
                places = char_positions(output.row_log_probs(row)[0], decoded.text, decoder.charset)
                decoded = dataclasses.replace(decoded, positions=places)
            outcomes[slot] = decoded
    return [outcome for outcome in outcomes if outcome is not None]
