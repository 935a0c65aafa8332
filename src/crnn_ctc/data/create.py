"""``crnn dataset create``: annotation file + images -> checked train/validation datasets.

Every sample is checked before it is written; a rejected sample is counted and listed in
``rejected.tsv``, never fatal (characters outside the charset are fatal by default, since they
usually mean the wrong ``--charset``). Everything is written into a hidden partial folder that is
renamed into place at the end, so an interrupted run leaves no dataset rather than half of one, and
a run that keeps no sample leaves an existing dataset as it was.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from ..charset import Charset, normalize_text, required_steps
from ..errors import DatasetError, ImageError
from ..files import occupied, refuse_existing, refuse_overlap, staged_directory, tsv_field
from ..model import ModelConfig
from ..preprocess import PreprocessConfig, load_image
from .annotations import Annotation, read_annotations
from .lmdb_store import LmdbWriter
from .splits import SplitAssigner

STORE_FORMATS = ("lmdb", "tfrecord")
UNKNOWN_CHAR_POLICIES = ("error", "skip", "drop")
TFRECORD_HEIGHT = 32  # the seed's schema stores JPEGs scaled to this height
JPEG_QUALITY = 95


@dataclass
class CreateConfig:
    """What ``crnn dataset create`` was asked to do."""

    image_dir: Path
    anno_file: Path
    data_dir: Path
    validation_split_fraction: float = 0.1
    anno_format: str = "auto"
    store_format: str = "lmdb"
    charset: str = "lower-alnum"
    lowercase: bool = False
    unknown_chars: str = "error"
    height: int | None = None  # store images pre-scaled to this height; None keeps the original bytes
    model_height: int = 32  # the height at which labels are checked against the CTC output length
    arch: str = "small"
    seed: int = 0
    shuffle: bool = True
    workers: int = 0  # 0: all cores
    overwrite: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.validation_split_fraction < 1.0:
            raise DatasetError(f"--validation_split_fraction must lie in [0, 1), got {self.validation_split_fraction}")
        if self.store_format not in STORE_FORMATS:
            raise DatasetError(f"--format must be one of {', '.join(STORE_FORMATS)}, got {self.store_format!r}")
        if self.unknown_chars not in UNKNOWN_CHAR_POLICIES:
            raise DatasetError(f"--unknown-chars must be one of {', '.join(UNKNOWN_CHAR_POLICIES)}")
        if self.height is not None and self.height < 8:
            raise DatasetError(f"--height must be at least 8, got {self.height}")


@dataclass
class CreateSummary:
    """What a conversion did: counts by outcome and rejection reason, and where it wrote."""

    data_dir: str
    anno_format: str
    store_format: str
    lines: int = 0
    train: int = 0
    validation: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return self.train + self.validation


class EmptyDatasetError(DatasetError):
    """No sample passed the checks, so the dataset already in the output folder was kept as it was."""

    def __init__(self, summary: CreateSummary) -> None:
        super().__init__(f"no sample passed the checks, so {summary.data_dir} keeps the dataset it held")
        self.summary = summary


@dataclass(frozen=True)
class _Task:
    slot: int
    path: str
    label: str
    store_height: int | None
    required_steps: int


def _encode_scaled(image: Image.Image, height: int) -> tuple[bytes, tuple[int, int]]:
    width = max(1, round(image.width * height / image.height))
    scaled = image.resize((width, height), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    scaled.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue(), scaled.size


# Set once per worker process by _init_worker: the geometry used to check label lengths.
_CHECK: tuple[PreprocessConfig, ModelConfig] | None = None


def _init_worker(model_height: int, arch: str) -> None:
    global _CHECK
    if multiprocessing.parent_process() is not None:
        # The parent handles Ctrl-C and kills; workers just stop when told.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _CHECK = (PreprocessConfig(height=model_height), ModelConfig.for_arch(arch, 2, height=model_height))


def _process(task: _Task) -> tuple[int, bytes | None, tuple[int, int], str]:
    """Read, decode and check one image; return (slot, bytes to store or None, size, reject reason)."""
    assert _CHECK is not None
    preprocess_config, geometry = _CHECK
    try:
        data = Path(task.path).read_bytes()
        image = load_image(data, name=task.path)
    except FileNotFoundError:
        return task.slot, None, (0, 0), "missing image"
    except OSError as error:
        return task.slot, None, (0, 0), f"unreadable image ({error.strerror or error})"
    except ImageError as error:
        reason = "empty image" if "0 bytes" in error.reason or "no pixels" in error.reason else "unreadable image"
        return task.slot, None, (0, 0), f"{reason} ({error.reason})"
    size = image.size
    steps = geometry.output_length(preprocess_config.target_width(*size))
    if steps < task.required_steps:
        return (
            task.slot,
            None,
            size,
            (
                f"label too long ({task.required_steps} CTC steps needed, the image gives {steps} at height "
                f"{preprocess_config.height})"
            ),
        )
    if task.store_height is not None:
        data, size = _encode_scaled(image, task.store_height)
    return task.slot, data, size, ""


def _check_labels(
    annotations: list[Annotation], charset: Charset, config: CreateConfig, reject: Callable[[Annotation, str], None]
) -> list[tuple[Annotation, str, list[int]]]:
    """Apply the label rules; return (annotation, final label, indices) for the labels that pass."""
    seen: dict[str, int] = {}
    kept = []
    for item in annotations:
        label = normalize_text(item.label.lower() if config.lowercase else item.label)
        key = os.path.normpath(item.path)
        if key in seen:
            reject(item, f"duplicate path (first at line {seen[key]})")
            continue
        seen[key] = item.line
        unknown = charset.unknown_symbols(label)
        if unknown and config.unknown_chars == "error":
            shown = ", ".join(f"{s!r}" for s in unknown)
            raise DatasetError(
                f"{config.anno_file}:{item.line}: label {label!r} holds {shown}, not in the charset "
                f"{config.charset!r} ({len(charset)} symbols). Use --charset alnum|printable|FILE, --lowercase, "
                "or --unknown-chars skip (reject such samples) | drop (delete such characters)"
            )
        if unknown and config.unknown_chars == "skip":
            reject(item, "unknown characters " + "".join(unknown))
            continue
        if unknown:
            label = "".join(symbol for symbol in label if symbol in charset)
        if not label:
            reject(item, "empty label")
            continue
        kept.append((item, label, charset.encode(label)))
    return kept


def create_dataset(config: CreateConfig, progress: bool = True) -> CreateSummary:
    """Convert, check, split and write; return the summary (also saved as ``summary.json``)."""
    from tqdm import tqdm

    started = time.perf_counter()
    charset = Charset.resolve(config.charset)
    data_dir = config.data_dir
    # Replacing the output folder must never take an input with it.
    refuse_overlap(data_dir, [config.image_dir, config.anno_file], "--data-dir")
    refuse_existing(data_dir, config.overwrite)
    if not config.image_dir.is_dir():
        raise DatasetError(f"{config.image_dir}: no such image directory")
    annotations, bad_lines, anno_format = read_annotations(config.anno_file, config.anno_format)
    summary = CreateSummary(str(data_dir), anno_format, config.store_format)
    summary.lines = len(annotations) + len(bad_lines)
    rejected_rows: list[tuple[str, int, str]] = [(b.text, b.line, f"unparseable line: {b.reason}") for b in bad_lines]
    reasons: Counter[str] = Counter("unparseable line" for _ in bad_lines)

    def reject(item: Annotation, reason: str) -> None:
        rejected_rows.append((item.path, item.line, reason))
        reasons[reason.split(" (", 1)[0]] += 1

    kept = _check_labels(annotations, charset, config, reject)
    order = list(range(len(kept)))
    if config.shuffle:
        import random

        random.Random(config.seed).shuffle(order)
    store_height = TFRECORD_HEIGHT if config.store_format == "tfrecord" and config.height is None else config.height
    tasks = [
        _Task(slot, str(config.image_dir / kept[slot][0].path), kept[slot][1], store_height,
              required_steps(kept[slot][2]))
        for slot in order
    ]  # fmt: skip

    with staged_directory(data_dir, config.overwrite) as partial:
        writers = _open_writers(partial, config.store_format)
        assigner = SplitAssigner(config.validation_split_fraction)
        with tqdm(total=len(tasks), unit="img", disable=not progress, desc="converting") as bar:
            for slot, data, size, reason in _run_tasks(tasks, config):
                bar.update(1)
                item, label, indices = kept[slot]
                if data is None:
                    reject(item, reason)
                    continue
                split = assigner.next()
                writers[split].add(data, label, size, indices, item.path)
        meta = {"charset": list(charset.symbols), "source": str(config.anno_file), "stored_height": store_height}
        summary.train = writers["train"].close(meta)
        summary.validation = writers["validation"].close(meta)
        summary.rejected = dict(sorted(reasons.items()))
        summary.seconds = round(time.perf_counter() - started, 2)
        if summary.written == 0 and occupied(data_dir):
            raise EmptyDatasetError(summary)  # an empty dataset never replaces one (the partial is removed)
        charset.write_char_map(partial / "char_map.json")
        _write_rejected(partial / "rejected.tsv", rejected_rows)
        (partial / "summary.json").write_text(json.dumps(asdict(summary), indent=1) + "\n", encoding="utf-8")
    return summary


def _run_tasks(tasks: list[_Task], config: CreateConfig) -> Iterator[tuple[int, bytes | None, tuple[int, int], str]]:
    """Process tasks in order, in worker processes when more than one core is asked for."""
    workers = config.workers or os.cpu_count() or 1
    if workers == 1 or len(tasks) < 64:
        _init_worker(config.model_height, config.arch)
        yield from map(_process, tasks)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(config.model_height, config.arch)) as pool:
        yield from pool.imap(_process, tasks, chunksize=32)


def _write_rejected(path: Path, rows: list[tuple[str, int, str]]) -> None:
    with path.open("w", encoding="utf-8") as file:
        file.write("path\tline\treason\n")
        for image, line, reason in sorted(rows, key=lambda row: row[1]):
            file.write(f"{tsv_field(image)}\t{line}\t{tsv_field(reason)}\n")


class _LmdbSplitWriter:
    def __init__(self, path: Path) -> None:
        self._writer = LmdbWriter(path)

    def add(self, data: bytes, label: str, size: tuple[int, int], indices: list[int], name: str) -> None:
        self._writer.add(data, label, size)

    def close(self, meta: dict[str, Any]) -> int:
        return self._writer.close(meta)


class _TFRecordSplitWriter:
    """The seed's schema: ``images`` (JPEG), ``labels`` (char_map numbers), ``imagenames``."""

    def __init__(self, path: Path) -> None:
        from .tfrecord import TFRecordWriter

        self._writer = TFRecordWriter(path)
        self.count = 0

    def add(self, data: bytes, label: str, size: tuple[int, int], indices: list[int], name: str) -> None:
        from .tfrecord import encode_example

        # Our class i is the seed's number i - 1 (the seed puts the blank last, we put it first).
        example: dict[str, list[bytes] | list[int]] = {
            "images": [data],
            "labels": [i - 1 for i in indices],
            "imagenames": [name.encode("utf-8")],
            "width": [size[0]],
            "height": [size[1]],
        }
        self._writer.write(encode_example(example))
        self.count += 1

    def close(self, meta: dict[str, Any]) -> int:
        self._writer.close()
        return self.count


def _open_writers(partial: Path, store_format: str) -> dict[str, _LmdbSplitWriter | _TFRecordSplitWriter]:
    if store_format == "lmdb":
        return {split: _LmdbSplitWriter(partial / split) for split in ("train", "validation")}
    return {split: _TFRecordSplitWriter(partial / f"{split}.tfrecord") for split in ("train", "validation")}
