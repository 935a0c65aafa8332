"""Reading samples back: LMDB, TFRecord, a folder with an annotation file, or a folder of LMDB shards,
behind one interface.

A source yields (encoded image bytes, label) and knows every image's size without decoding it,
so a sampler can bucket by width up front. ``RecognitionDataset`` puts a source through the one
``preprocess`` path and the charset for training and evaluation.
"""

from __future__ import annotations

import bisect
import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from ..charset import Charset, required_steps
from ..errors import CharsetError, DatasetError, ImageError, SampleError
from ..model import ModelConfig
from ..preprocess import PreprocessConfig, collate, preprocess
from .annotations import read_annotations
from .lmdb_store import LmdbDataset

ANNOTATION_NAMES = ("labels.tsv", "annotation.txt", "annotations.txt", "gt.txt", "labels.txt")
# Subfolders with these names are the splits of one dataset (`crnn dataset create`), never shards to pool.
SPLIT_NAMES = ("train", "validation", "val", "test")


class SampleSource(Protocol):
    """Random access to (encoded image, label) pairs."""

    path: Path

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[bytes, str]: ...

    def sizes(self) -> list[tuple[int, int]]: ...


def _header_size(data: bytes) -> tuple[int, int]:
    try:
        return Image.open(io.BytesIO(data)).size  # reads the header only
    except (OSError, ValueError):
        return (0, 0)


class TFRecordSource:
    """The seed's TFRecords: ``images`` JPEG, ``labels`` char_map numbers, ``imagenames``. The numbers mean
    what the ``char_map.json`` beside the file says; ``charset`` is only for a file without one (else the
    seed's lower-alnum), never the alphabet a model happens to train, whose order may differ."""

    def __init__(self, path: str | Path, charset: Charset | None = None) -> None:
        from .tfrecord import TFRecordReader

        self.path = Path(path)
        char_map = self.path.parent / "char_map.json"
        if char_map.is_file():
            charset = Charset.from_char_map(char_map)
        elif charset is None:
            charset = Charset.preset("lower-alnum")
        self.charset = charset
        self._reader = TFRecordReader(self.path)
        self._offsets = self._reader.index()
        self._sizes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self._offsets)

    def _example(self, index: int) -> dict[str, list[bytes] | list[int] | list[float]]:
        from .tfrecord import decode_example

        try:
            return decode_example(self._reader.read_at(self._offsets[index]))
        except DatasetError as error:
            raise DatasetError(f"{self.path}: record {index}: {error}") from None

    def _image(self, index: int, example: dict[str, list[bytes] | list[int] | list[float]]) -> bytes:
        images = example.get("images")
        if not images or not isinstance(images[0], bytes):
            raise DatasetError(f"{self.path}: record {index} lacks the 'images' bytes feature")
        return images[0]

    def __getitem__(self, index: int) -> tuple[bytes, str]:
        example = self._example(index)
        image = self._image(index, example)
        numbers = example.get("labels")
        if numbers is None:
            raise DatasetError(f"{self.path}: record {index} lacks the 'labels' feature")
        symbols = self.charset.symbols
        if any(not isinstance(n, int) or not 0 <= n < len(symbols) for n in numbers):
            raise DatasetError(
                f"{self.path}: record {index} has label numbers outside the charset of {len(symbols)} symbols; "
                "put the dataset's char_map.json beside it or pass its charset"
            )
        return image, "".join(symbols[int(n)] for n in numbers)

    def sizes(self) -> list[tuple[int, int]]:
        if self._sizes is None:
            sizes = []
            for index in range(len(self)):
                example = self._example(index)
                if example.get("width") and example.get("height"):
                    sizes.append((int(example["width"][0]), int(example["height"][0])))
                else:
                    sizes.append(_header_size(self._image(index, example)))
            self._sizes = sizes
        return self._sizes


class FolderSource:
    """Images on disk named by an annotation file, read directly without conversion."""

    def __init__(self, anno_file: str | Path, image_dir: str | Path | None = None, anno_format: str = "auto") -> None:
        self.path = Path(anno_file)
        self.image_dir = Path(image_dir) if image_dir is not None else self.path.parent
        annotations, bad, _ = read_annotations(self.path, anno_format)
        if bad:
            first = bad[0]
            raise DatasetError(
                f"{self.path}:{first.line}: cannot parse {first.text!r} ({first.reason}); "
                f"{len(bad)} such line(s). Convert with `crnn dataset create` to check and skip them"
            )
        self.items = [(self.image_dir / a.path, a.label) for a in annotations]
        self._sizes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def image_name(self, index: int) -> str:
        """The image's path: what per-image lexicons and prediction files refer to."""
        return str(self.items[index][0])

    def __getitem__(self, index: int) -> tuple[bytes, str]:
        path, label = self.items[index]
        try:
            return path.read_bytes(), label
        except OSError as error:  # one file: the other samples can still be read
            raise SampleError(str(path), f"cannot read image: {error.strerror or error}", label) from None

    def sizes(self) -> list[tuple[int, int]]:
        if self._sizes is None:
            sizes = []
            for path, _ in self.items:
                try:
                    with Image.open(path) as image:
                        sizes.append(image.size)
                except (OSError, ValueError):
                    sizes.append((0, 0))
            self._sizes = sizes
        return self._sizes


class LmdbShards:
    """LMDBs in one folder (``DIR/000/``, ``DIR/001/``, ...) read as one source: the shards' samples
    one after another, in the order of the shards' names. A shard set grows by rendering another
    shard into the folder (``crnn synth --out DIR/002 --seed 2``)."""

    def __init__(self, path: str | Path, shards: Sequence[Path]) -> None:
        self.path = Path(path)
        self.shards = [LmdbDataset(shard) for shard in shards]
        self._starts = list(itertools.accumulate((len(shard) for shard in self.shards), initial=0))

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: int) -> tuple[bytes, str]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples in the shards of {self.path}")
        shard = bisect.bisect_right(self._starts, index) - 1
        return self.shards[shard][index - self._starts[shard]]

    def sizes(self) -> list[tuple[int, int]]:
        return [size for shard in self.shards for size in shard.sizes()]

    def labels(self) -> list[str]:
        return [label for shard in self.shards for label in shard.labels()]


def lmdb_shards(folder: Path) -> list[Path]:
    """The LMDB subfolders of ``folder``, by name; hidden ones (a ``crnn synth`` still writing) are left out."""
    shards = sorted(
        child for child in folder.iterdir()
        if child.is_dir() and not child.name.startswith(".") and (child / "data.mdb").is_file()
    )  # fmt: skip
    splits = [shard.name for shard in shards if shard.name in SPLIT_NAMES]
    if splits:
        raise DatasetError(
            f"{folder}: holds the splits of a dataset ({', '.join(splits)}), not shards to train on together: "
            f"name one, e.g. {folder / splits[0]}"
        )
    return shards


def open_source(
    path: str | Path, *, charset: Charset | None = None, image_dir: str | Path | None = None, anno_format: str = "auto"
) -> SampleSource:
    """An LMDB folder or file, a ``.tfrecord`` file, an annotation file, a folder holding one, or a
    folder of LMDB shards (``LmdbShards``)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset")
    if path.is_dir():
        if (path / "data.mdb").is_file():
            return LmdbDataset(path)
        for name in ANNOTATION_NAMES:
            if (path / name).is_file():
                return FolderSource(path / name, image_dir or path, anno_format)
        shards = lmdb_shards(path)
        if shards:
            return LmdbShards(path, shards)
        raise DatasetError(
            f"{path}: not a dataset folder: no LMDB (data.mdb), no subfolders of LMDB shards, and no annotation "
            f"file ({', '.join(ANNOTATION_NAMES)})"
        )
    if path.suffix == ".mdb":
        return LmdbDataset(path)
    if path.suffix in (".tfrecord", ".tfrecords") or ".tfrecord" in path.name:
        return TFRecordSource(path, charset)
    return FolderSource(path, image_dir, anno_format)


def is_empty_split(path: Path) -> bool:
    """Whether a split ``find_split`` found is one ``crnn dataset create --validation_split_fraction 0``
    wrote: an LMDB of ``num-samples`` 0 or an empty TFRecord. Anything else (an annotation folder) is not
    parsed here: training reads it once, and an empty one is left out there."""
    if path.is_file() and path.suffix != ".mdb":
        return path.stat().st_size == 0
    if path.suffix == ".mdb" or (path / "data.mdb").is_file():
        return len(LmdbDataset(path)) == 0
    return False


def stated_charset(path: str | Path) -> Charset | None:
    """The alphabet a dataset says it was written for: the ``charset`` in an LMDB's metadata (``crnn
    dataset create`` and ``crnn synth`` record it; for a folder of shards, their symbols in order of first
    appearance), else a ``char_map.json`` beside a TFRecord or in the folder above an LMDB split. None
    where the data says nothing (an annotation file, an LMDB made elsewhere)."""
    path = Path(path)
    if path.is_file() and (path.suffix in (".tfrecord", ".tfrecords") or ".tfrecord" in path.name):
        return _char_map_beside(path)  # not opened: indexing a TFRecord reads all of it
    single = path.suffix == ".mdb" or (path / "data.mdb").is_file()
    if not single and not (path.is_dir() and lmdb_shards(path)):
        return None  # an annotation file or folder (not parsed here: training parses it once)
    source = open_source(path)
    if isinstance(source, LmdbDataset):
        metas = [source.meta]
    elif isinstance(source, LmdbShards):
        metas = [shard.meta for shard in source.shards]
    else:
        return None
    symbols: list[str] = []
    for meta in metas:
        stated = meta.get("charset") or []
        if not isinstance(stated, list) or not all(isinstance(symbol, str) for symbol in stated):
            raise DatasetError(f"{path}: the charset in its crnn-ctc-meta entry is not a list of symbols")
        symbols.extend(symbol for symbol in stated if symbol not in symbols)
    if not symbols:  # an LMDB split from elsewhere, beside the char_map.json of its dataset
        return _char_map_beside(path if path.is_dir() else path.parent) if single else None
    try:
        return Charset(symbols)
    except CharsetError as error:
        raise DatasetError(f"{path}: the charset in its crnn-ctc-meta entry: {error}") from None


def _char_map_beside(path: Path) -> Charset | None:
    char_map = path.parent / "char_map.json"
    return Charset.from_char_map(char_map) if char_map.is_file() else None


def find_split(data_dir: str | Path, split: str) -> Path:
    """``data_dir/train`` (LMDB) or ``data_dir/train.tfrecord``: the seed's ``--data_dir`` layout."""
    data_dir = Path(data_dir)
    for candidate in (data_dir / split, data_dir / f"{split}.tfrecord", data_dir / f"{split}.tfrecords"):
        if candidate.exists():
            return candidate
    raise DatasetError(f"{data_dir}: no {split!r} dataset inside (expected {split}/ or {split}.tfrecord)")


@dataclass
class Sample:
    """One preprocessed training sample; ``image`` is None when the stored image is unusable."""

    image: np.ndarray | None
    targets: list[int]
    label: str
    error: str | None = None


class RecognitionDataset:
    """A source seen through the model's preprocessing and charset (a map-style torch dataset)."""

    def __init__(
        self,
        source: SampleSource,
        charset: Charset,
        preprocess_config: PreprocessConfig,
        geometry: ModelConfig | None = None,
    ) -> None:
        """With ``geometry``, a sample whose label needs more CTC steps than its image gives is unusable."""
        self.source = source
        self.charset = charset
        self.preprocess_config = preprocess_config
        self.geometry = geometry

    def __len__(self) -> int:
        return len(self.source)

    def widths(self) -> list[int]:
        """Each sample's width after preprocessing, from stored sizes: what bucketing sorts by."""
        target = self.preprocess_config.target_width
        return [target(w, h) if w and h else self.preprocess_config.min_width for w, h in self.source.sizes()]

    def __getitem__(self, index: int) -> Sample:
        try:
            data, label = self.source[index]
        except SampleError as error:
            return Sample(None, [], error.label, str(error))
        try:
            targets = self.charset.encode(label)
        except CharsetError as error:
            return Sample(None, [], label, str(error))
        try:
            image = preprocess(data, self.preprocess_config, name=f"{self.source.path}#{index}")
        except ImageError as error:
            return Sample(None, targets, label, str(error))
        if self.geometry is not None and required_steps(targets) > self.geometry.output_length(image.shape[2]):
            return Sample(None, targets, label, f"label {label!r} too long for its image")
        return Sample(image, targets, label)


@dataclass
class Batch:
    """Padded images with true widths, and CTC targets (concatenated) with their lengths."""

    images: np.ndarray
    widths: np.ndarray
    targets: np.ndarray
    target_lengths: np.ndarray
    labels: list[str]
    skipped: int


def collate_samples(samples: Sequence[Sample]) -> Batch:
    """Pad a batch; unusable samples are dropped and counted in ``skipped``."""
    usable = [s for s in samples if s.image is not None]
    if not usable:
        raise DatasetError("every sample of a batch was unusable: " + "; ".join(str(s.error) for s in samples[:3]))
    images, widths = collate([s.image for s in usable])  # type: ignore[misc]
    targets = np.array([i for s in usable for i in s.targets], dtype=np.int64)
    lengths = np.array([len(s.targets) for s in usable], dtype=np.int64)
    return Batch(images, widths, targets, lengths, [s.label for s in usable], len(samples) - len(usable))
