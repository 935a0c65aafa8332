"""LMDB datasets with the field's standard keys, so public benchmark LMDBs and ours interchange.

Keys (counted from 1): ``image-%09d`` (encoded image bytes), ``label-%09d`` (UTF-8 text) and
``num-samples``. We add ``size-%09d`` (``"width height"``), so width bucketing needs no image
decode, and ``crnn-ctc-meta`` (JSON); readers of the standard layout ignore both. ``num-samples``
is written last, in the final transaction: an LMDB without it is incomplete.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import DatasetError
from ..extras import extra_imports

with extra_imports("train", "LMDB datasets"):
    import lmdb

NUM_SAMPLES_KEY = b"num-samples"
META_KEY = b"crnn-ctc-meta"
# LMDB reserves address space, not disk: a sparse file that grows as written.
_MAP_SIZE = 1 << 40
# LMDB allows one environment per file and process, and a forked child may use its parent's (but not
# open its own): so every reader of a file shares one read-only environment, inherited across fork.
# Keyed by the data file's identity, so a dataset replaced at the same path is opened afresh.
_READ_ENVIRONMENTS: dict[tuple[int, int], lmdb.Environment] = {}
# The bytes each open environment's data file must hold (``committed_bytes``), checked again on every read.
_COMMITTED_BYTES: dict[tuple[int, int], int] = {}


def damaged(path: Path, detail: str) -> DatasetError:
    """The one message for a store that LMDB cannot read safely: what is wrong, and what to do."""
    return DatasetError(f"{path}: the dataset is damaged or truncated ({detail}): re-create it")


# MDB_meta (lmdb.h; 64-bit little-endian builds), after a meta page's 16-byte header: magic, version, map address, map
# size, the free-page and main DB records (48 bytes each; the first one's leading field is the page
# size), the last page in use, and the transaction id. LMDB uses the meta of the higher transaction id.
_META = struct.Struct("<IIQQI44x48xQQ")
_META_OFFSET = 16
_META_FLAG = 0x08
_MAGIC = 0xBEEFC0DE


def committed_bytes(path: Path, data_file: Path) -> int:
    """The size ``data_file`` must have for the pages its newest meta page says are in use. LMDB maps
    the file and reads those pages without checking: a shorter file kills the reader with SIGBUS."""
    header = _META_OFFSET + _META.size
    try:
        with data_file.open("rb") as file:
            first = file.read(header)
            if len(first) < header:
                raise damaged(path, f"{data_file.name} holds {len(first)} bytes, less than an LMDB header")
            page_size = _META.unpack_from(first, _META_OFFSET)[4]
            if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
                raise damaged(path, f"{data_file.name} records an impossible page size {page_size}")
            file.seek(page_size)
            second = file.read(header)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read {data_file.name}: {error.strerror or error}") from None
    if len(second) < header:
        raise damaged(path, f"{data_file.name} ends inside its second meta page")
    newest = (-1, 0)
    for page in (first, second):
        flags = struct.unpack_from("<H", page, 10)[0]
        magic, _, _, _, _, last_page, transaction = _META.unpack_from(page, _META_OFFSET)
        if magic != _MAGIC or not flags & _META_FLAG:
            raise damaged(path, f"{data_file.name} has no valid LMDB meta page")
        newest = max(newest, (transaction, (last_page + 1) * page_size))
    return newest[1]


def _read_environment(path: Path) -> lmdb.Environment:
    data_file = path / "data.mdb" if path.is_dir() else path
    try:
        status = data_file.stat()
    except OSError:
        raise DatasetError(f"{path}: not an LMDB (no {data_file.name})") from None
    key = (status.st_dev, status.st_ino)
    environment = _READ_ENVIRONMENTS.get(key)
    if environment is None:
        _close_replaced_environments()
        required = committed_bytes(path, data_file)
        _check_length(path, data_file, required)
        try:
            environment = lmdb.open(
                str(path), readonly=True, lock=False, readahead=False, meminit=False, subdir=path.is_dir(),
                max_readers=256,
            )  # fmt: skip
        except lmdb.Error as error:
            raise damaged(path, f"LMDB cannot open it: {error}") from None
        _READ_ENVIRONMENTS[key] = environment
        _COMMITTED_BYTES[key] = required
    elif status.st_size < _COMMITTED_BYTES[key]:  # cut short since it was opened
        _check_length(path, data_file, _COMMITTED_BYTES[key])
    return environment


def _check_length(path: Path, data_file: Path, required: int) -> None:
    size = data_file.stat().st_size
    if size < required:
        raise damaged(path, f"{data_file.name} holds {size:,} bytes of the {required:,} its header records")


def _close_replaced_environments() -> None:
    """Close cached environments whose file was deleted or replaced. LMDB refuses to open a second
    environment on a folder it still holds, and a new dataset's folder can reuse a deleted one's
    inode (a rerun of an interrupted conversion after a reader looked at its partial output)."""
    for key, environment in list(_READ_ENVIRONMENTS.items()):
        path = Path(environment.path())
        data_file = path / "data.mdb" if path.is_dir() else path
        try:
            status = data_file.stat()
            current = (status.st_dev, status.st_ino) == key
        except OSError:
            current = False
        if not current:
            del _READ_ENVIRONMENTS[key]
            _COMMITTED_BYTES.pop(key, None)
            environment.close()


def image_key(index: int) -> bytes:
    return b"image-%09d" % index


def label_key(index: int) -> bytes:
    return b"label-%09d" % index


def size_key(index: int) -> bytes:
    return b"size-%09d" % index


class LmdbWriter:
    """Appends samples in batched transactions; ``close`` makes the dataset complete."""

    def __init__(self, path: str | Path, commit_every: int = 1000) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._env = lmdb.open(str(self.path), map_size=_MAP_SIZE, subdir=True, meminit=False, map_async=True)
        self._pending: list[tuple[bytes, bytes]] = []
        self._commit_every = commit_every
        self.count = 0

    def add(self, image: bytes, label: str, size: tuple[int, int] | None = None) -> None:
        self.count += 1
        self._pending.append((image_key(self.count), image))
        self._pending.append((label_key(self.count), label.encode("utf-8")))
        if size is not None:
            self._pending.append((size_key(self.count), b"%d %d" % size))
        if len(self._pending) >= 3 * self._commit_every:
            self._flush()

    def _flush(self, extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        with self._env.begin(write=True) as transaction:
            for key, value in [*self._pending, *extra]:
                transaction.put(key, value)
        self._pending.clear()

    def close(self, meta: dict[str, Any] | None = None) -> int:
        """Write the remaining samples, the metadata and ``num-samples``; return the sample count."""
        extra = [(NUM_SAMPLES_KEY, str(self.count).encode())]
        if meta is not None:
            extra.insert(0, (META_KEY, json.dumps(meta, ensure_ascii=False).encode("utf-8")))
        self._flush(extra)
        self._env.sync(True)
        self._env.close()
        return self.count

    def abort(self) -> None:
        """Close without marking the dataset complete."""
        self._pending.clear()
        self._env.close()


class LmdbDataset:
    """Read-only random access to an LMDB of (image bytes, label); safe to hand to worker processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such LMDB dataset")
        with self._transaction() as transaction:
            raw = transaction.get(NUM_SAMPLES_KEY)
            meta = transaction.get(META_KEY)
        if raw is None:
            raise DatasetError(
                f"{self.path}: no 'num-samples' key: not a text-recognition LMDB, or an incomplete one "
                "(was its conversion interrupted?)"
            )
        try:
            self._length = int(raw)
        except ValueError:
            raise DatasetError(f"{self.path}: 'num-samples' is {raw!r}, not a number") from None
        try:
            self.meta: dict[str, Any] = json.loads(meta) if meta else {}
        except ValueError:
            raise damaged(self.path, "its crnn-ctc-meta entry is not JSON") from None
        self._sizes: list[tuple[int, int]] | None = None

    @contextlib.contextmanager
    def _transaction(self, buffers: bool = False) -> Iterator[Any]:
        """A read transaction; LMDB's complaints about the file (a damaged page...) become a ``DatasetError``."""
        environment = _read_environment(self.path)
        try:
            with environment.begin(buffers=True) if buffers else environment.begin() as transaction:
                yield transaction
        except lmdb.Error as error:
            raise damaged(self.path, f"LMDB: {error}") from None

    def __len__(self) -> int:
        return self._length

    def _get(self, key: bytes) -> bytes | None:
        with self._transaction() as transaction:
            value = transaction.get(key)
        return None if value is None else bytes(value)

    def _check(self, index: int) -> int:
        if not 0 <= index < self._length:
            raise IndexError(f"sample {index} out of range for {self._length} samples in {self.path}")
        return index + 1

    def image(self, index: int) -> bytes:
        key = self._check(index)
        value = self._get(image_key(key))
        if value is None:
            raise DatasetError(f"{self.path}: sample {key} has no image (key {image_key(key).decode()})")
        return value

    def label(self, index: int) -> str:
        key = self._check(index)
        value = self._get(label_key(key))
        if value is None:
            raise DatasetError(f"{self.path}: sample {key} has no label (key {label_key(key).decode()})")
        return self._text(value, key)

    def _text(self, value: bytes, key: int) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise damaged(self.path, f"sample {key}'s label is not UTF-8 text") from None

    def __getitem__(self, index: int) -> tuple[bytes, str]:
        return self.image(index), self.label(index)

    def labels(self) -> list[str]:
        """Every label, without reading an image: what up-front filtering needs."""
        labels = []
        with self._transaction(buffers=True) as transaction:
            for key in range(1, self._length + 1):
                value = transaction.get(label_key(key))
                if value is None:
                    raise DatasetError(f"{self.path}: sample {key} has no label (key {label_key(key).decode()})")
                labels.append(self._text(bytes(value), key))
        return labels

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every stored image: from ``size-`` keys, else from image headers (no decode)."""
        if self._sizes is None:
            sizes = []
            with self._transaction(buffers=True) as transaction:
                for key in range(1, self._length + 1):
                    stored = transaction.get(size_key(key))
                    if stored is not None:
                        width, height = bytes(stored).split()
                        sizes.append((int(width), int(height)))
                        continue
                    data = transaction.get(image_key(key))
                    try:
                        sizes.append(Image.open(io.BytesIO(bytes(data))).size if data is not None else (0, 0))
                    except (OSError, ValueError):
                        sizes.append((0, 0))  # unreadable: reported when the sample is loaded
            self._sizes = sizes
        return self._sizes
