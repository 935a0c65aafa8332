"""TFRecord files and ``tf.train.Example`` protos, without TensorFlow or protobuf.

The seed's datasets are TFRecord files of Examples (``images``: one JPEG, ``labels``: character
indices, ``imagenames``: one name). Both formats are tiny, so they are written out by hand here:
a record is ``uint64 length, uint32 masked_crc32c(length), data, uint32 masked_crc32c(data)``
(little-endian), and an Example is three levels of nested length-delimited protobuf messages.

Reading checks every CRC and names the file, record (counting from 0) and byte offset of damage.
gzip-compressed files (TensorFlow's ``GZIP`` option) are detected and read by iteration only:
``index()``/``read_at()``/``len()`` raise ``DatasetError`` asking to decompress, since seeking in a
gzip stream means decompressing it from the start (the error is also a ``TypeError``, so ``list()``
of a gzip reader works). Examples decode as protobuf's C++ parser would, unknown fields and all.
"""

from __future__ import annotations

import gzip
import io
import numbers
import os
import struct
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from ..errors import DatasetError
from ..extras import extra_imports

with extra_imports("train", "TFRecord files"):
    import google_crc32c

FeatureValue = list[bytes] | list[int] | list[float]

_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_GZIP_MAGIC = b"\x1f\x8b"
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = range(6)
_MAX_GROUP_DEPTH = 64


def masked_crc32c(data: bytes) -> int:
    """CRC-32C, rotated and offset as TFRecord stores it (a CRC of data holding CRCs is then not degenerate)."""
    crc = google_crc32c.value(data if isinstance(data, bytes) else bytes(data))
    return ((((crc >> 15) | (crc << 17)) & _MASK32) + 0xA282EAD8) & _MASK32


def _frame_parts(data: bytes) -> tuple[bytes, bytes]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"a record payload must be bytes (e.g. from encode_example), not {type(data).__name__}")
    length = struct.pack("<Q", len(data))
    return length + _FOOTER.pack(masked_crc32c(length)), _FOOTER.pack(masked_crc32c(data))


def frame_record(data: bytes) -> bytes:
    """One record as TensorFlow's TFRecordWriter frames it: header, payload, payload CRC."""
    header, footer = _frame_parts(data)
    return header + bytes(data) + footer


# --- tf.train.Example ------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= _MASK64  # negative int64: two's complement, always 10 bytes
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def _packed(payload: bytes) -> bytes:
    """Field 1 of a number list, packed; omitted when empty, as protobuf serializers do."""
    return _len_field(1, payload) if payload else b""


def _element(key: str, item: object) -> bytes | int | float:
    if isinstance(item, str):
        return item.encode("utf-8")
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
        return int(item)  # numpy integers too
    if isinstance(item, numbers.Real) and not isinstance(item, bool):
        return float(item)
    raise TypeError(f"feature {key!r}: cannot store a {type(item).__name__} (bool is ambiguous: pass int 0/1)")


def _encode_feature(key: str, value: object) -> bytes:
    """A Feature message; the element type picks the list kind (an empty list is an empty int64_list)."""
    if isinstance(value, str | bytes | bytearray | memoryview | numbers.Real):
        value = [value]
    if not isinstance(value, Iterable):
        raise TypeError(
            f"feature {key!r}: expected bytes, str, int, float or a list of them, not {type(value).__name__}"
        )
    items = [_element(key, item) for item in value]
    ints = [item for item in items if isinstance(item, int)]
    if len(ints) == len(items):
        if any(not -(1 << 63) <= item < 1 << 63 for item in ints):
            raise ValueError(f"feature {key!r}: an integer is outside the int64 range")
        return _len_field(3, _packed(b"".join(_varint(item) for item in ints)))
    strings = [item for item in items if isinstance(item, bytes)]
    if len(strings) == len(items):
        return _len_field(1, b"".join(_len_field(1, item) for item in strings))
    if not strings:
        return _len_field(2, _packed(struct.pack(f"<{len(items)}f", *items)))
    raise TypeError(f"feature {key!r}: a list must hold only bytes/str, or only numbers (ints and floats make floats)")


def encode_example(features: Mapping[str, FeatureValue | bytes | int | float | str]) -> bytes:
    """A serialized ``tf.train.Example``, keys in sorted order so equal inputs give equal bytes.

    A scalar is a one-element list and ``str`` is UTF-8 bytes; ints are int64, floats float32
    (a list mixing ints and floats is a float list); repeated numbers are written packed.
    """
    entries = b"".join(
        _len_field(1, _len_field(1, key.encode("utf-8")) + _len_field(2, _encode_feature(key, features[key])))
        for key in sorted(features)
    )
    return _len_field(1, entries)


class _Malformed(Exception):
    pass


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _Malformed(f"varint longer than 10 bytes at byte {pos}")
    raise _Malformed(f"truncated varint at byte {pos}")


def _read_field(buf: memoryview, pos: int, end: int, depth: int = 0) -> tuple[int, int, int, int, int]:
    """(field number, wire type, value start, value stop, next position) of the field at ``pos``."""
    tag, pos = _read_varint(buf, pos, end)
    number, wire = tag >> 3, tag & 7
    if number == 0 or tag > _MASK32:
        raise _Malformed(f"invalid field number {number} before byte {pos}")
    if wire == _VARINT:
        stop = _read_varint(buf, pos, end)[1]
    elif wire in (_I64, _I32):
        stop = pos + (8 if wire == _I64 else 4)
    elif wire == _LEN:
        length, pos = _read_varint(buf, pos, end)
        stop = pos + length
    elif wire == _SGROUP:  # deprecated groups: skip to the matching end-group
        if depth >= _MAX_GROUP_DEPTH:
            raise _Malformed("groups nested too deeply")
        inner = pos
        while True:
            inner_number, inner_wire, inner_start, _, after = _read_field(buf, inner, end, depth + 1)
            if inner_wire == _EGROUP:
                if inner_number != number:
                    raise _Malformed(f"end-group {inner_number} closes group {number}")
                return number, wire, pos, inner_start, after
            inner = after
    elif wire == _EGROUP:
        if depth == 0:
            raise _Malformed(f"end-group without start-group before byte {pos}")
        return number, wire, pos, pos, pos
    else:
        raise _Malformed(f"invalid wire type {wire} before byte {pos}")
    if stop > end:
        raise _Malformed(f"field {number} runs past the end of its message (byte {stop} > {end})")
    return number, wire, pos, stop, stop


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(number, wire type, start, stop) of each field in ``buf[start:end]``; wrong-typed fields count as unknown."""
    pos = start
    while pos < end:
        number, wire, value_start, value_stop, pos = _read_field(buf, pos, end)
        yield number, wire, value_start, value_stop


def _join(buf: memoryview, spans: list[tuple[int, int]]) -> tuple[memoryview, int, int]:
    """Repeated occurrences of a message field merge, which equals parsing their concatenation."""
    if len(spans) == 1:
        return buf, spans[0][0], spans[0][1]
    for a, b in spans:  # no field may straddle two occurrences
        for _ in _fields(buf, a, b):
            pass
    joined = b"".join(buf[a:b] for a, b in spans)
    return memoryview(joined), 0, len(joined)


def _decode_feature(buf: memoryview, start: int, end: int) -> list[bytes] | list[int] | list[float]:
    kind, spans = 0, list[tuple[int, int]]()
    for number, wire, a, b in _fields(buf, start, end):
        if wire == _LEN and number in (1, 2, 3):
            if number != kind:  # a different member of the oneof replaces the previous one
                kind, spans = number, []
            spans.append((a, b))
    if not kind:
        return []
    buf, start, end = _join(buf, spans)
    if kind == 1:
        return [bytes(buf[a:b]) for n, w, a, b in _fields(buf, start, end) if n == 1 and w == _LEN]
    if kind == 2:
        floats: list[float] = []
        for number, wire, a, b in _fields(buf, start, end):
            if number == 1 and wire in (_LEN, _I32):
                if (b - a) % 4:
                    raise _Malformed(f"packed float list of {b - a} bytes is not a multiple of 4")
                floats.extend(struct.unpack(f"<{(b - a) // 4}f", buf[a:b]))
        return floats
    ints: list[int] = []
    for number, wire, a, b in _fields(buf, start, end):
        if number == 1 and wire in (_LEN, _VARINT):
            while a < b:
                value, a = _read_varint(buf, a, b)
                ints.append(value - (1 << 64) if value >> 63 else value)
    return ints


def decode_example(data: bytes) -> dict[str, list[bytes] | list[int] | list[float]]:
    """The features of a serialized ``tf.train.Example`` (a feature with no kind set is ``[]``).

    Accepts what protobuf parsers accept: packed or unpacked numbers, unknown fields of any wire
    type, repeated messages (merged) and repeated keys (the last wins). Raises ``DatasetError``.
    """
    buf = memoryview(data)
    try:
        spans = [(a, b) for number, wire, a, b in _fields(buf, 0, len(buf)) if number == 1 and wire == _LEN]
        result: dict[str, list[bytes] | list[int] | list[float]] = {}
        if not spans:
            return result
        features, start, end = _join(buf, spans)
        for number, wire, a, b in _fields(features, start, end):
            if number != 1 or wire != _LEN:
                continue
            key, values = "", []
            for entry_number, entry_wire, c, d in _fields(features, a, b):
                if entry_number == 1 and entry_wire == _LEN:
                    key = bytes(features[c:d]).decode("utf-8")
                elif entry_number == 2 and entry_wire == _LEN:
                    values.append((c, d))
            result[key] = _decode_feature(*_join(features, values)) if values else []
        return result
    except (_Malformed, struct.error) as error:
        raise DatasetError(f"malformed tf.train.Example: {error}") from None
    except UnicodeDecodeError:
        raise DatasetError("malformed tf.train.Example: a feature name is not UTF-8") from None


# --- record files ----------------------------------------------------------------------------------


class _Unseekable(DatasetError, TypeError):
    """Also a TypeError, Python's word for "has no len()": ``list(reader)`` then still works on gzip."""


class TFRecordWriter:
    """Writes framed records to ``path`` (uncompressed: TensorFlow reads it with no option); flushes on close."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.records = 0
        try:
            self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 (closed by close())
        except OSError as error:
            raise DatasetError(f"{self.path}: cannot create record file: {error}") from error

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise DatasetError(f"{self.path}: the record writer is closed")
        header, footer = _frame_parts(data)
        try:
            for part in (header, data, footer):  # three writes spare a copy of the payload
                self._file.write(part)
        except OSError as error:
            raise DatasetError(f"{self.path}: cannot write record {self.records}: {error}") from error
        self.records += 1

    def close(self) -> None:
        file, self._file = self._file, None
        try:
            if file is not None:
                file.close()
        except OSError as error:
            raise DatasetError(f"{self.path}: cannot finish record file: {error}") from error

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TFRecordReader:
    """Reads a TFRecord file in order, or by record offset once indexed (what a training dataset needs).

    ``verify=False`` skips the payload CRCs (for speed on trusted files); the length CRC is always
    checked, so a damaged length cannot send reads astray. No file stays open between calls (an
    open costs microseconds), so a reader is thread-safe, picklable and safe in forked workers.
    """

    def __init__(self, path: str | os.PathLike[str], *, verify: bool = True) -> None:
        self.path = Path(path)
        self.verify = verify
        with self._open() as file:
            head = file.read(_HEADER.size)
        # A plain file's first length may also start 1f 8b: its valid length CRC tells them apart.
        plain = len(head) == _HEADER.size and masked_crc32c(head[:8]) == _HEADER.unpack(head)[1]
        self.compressed = head[:2] == _GZIP_MAGIC and not plain
        self._index: array[int] | None = None

    def _open(self) -> io.BufferedReader:
        try:
            return open(self.path, "rb")
        except OSError as error:
            raise DatasetError(f"{self.path}: cannot open record file: {error}") from error

    def _error(self, number: int | None, offset: int, what: str) -> DatasetError:
        record = "record" if number is None else f"record {number}"
        unit = " (uncompressed)" if self.compressed else ""
        return DatasetError(f"{self.path}: {record} at byte {offset}{unit}: {what}")

    def _read_header(self, stream: io.BufferedIOBase, number: int | None, offset: int, size: int | None) -> int | None:
        """The payload length of the record at ``offset``, or None at a clean end of file."""
        header = stream.read(_HEADER.size)
        if not header:
            return None
        if len(header) < _HEADER.size:
            raise self._error(number, offset, f"truncated: {len(header)} of {_HEADER.size} header bytes")
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            hint = "not a TFRecord file, or compressed other than with gzip?" if offset == 0 else "file damaged?"
            raise self._error(number, offset, f"length CRC mismatch ({hint})")
        if size is not None and offset + _HEADER.size + length + _FOOTER.size > size:
            raise self._error(number, offset, f"truncated: a {length}-byte record runs past the end ({size})")
        return int(length)

    def _read_record(
        self, stream: io.BufferedIOBase, number: int | None, offset: int, size: int | None
    ) -> bytes | None:
        length = self._read_header(stream, number, offset, size)
        if length is None:
            return None
        data = stream.read(length)
        if len(data) < length:
            raise self._error(number, offset, f"truncated: {len(data)} of {length} payload bytes")
        footer = stream.read(_FOOTER.size)
        if len(footer) < _FOOTER.size:
            raise self._error(number, offset, "truncated: the data CRC is missing")
        if self.verify and masked_crc32c(data) != _FOOTER.unpack(footer)[0]:
            raise self._error(number, offset, "data CRC mismatch (file damaged?)")
        return data

    def __iter__(self) -> Iterator[bytes]:
        """Record payloads in file order, streamed (memory holds one record, gzip included)."""
        number = offset = 0
        file = self._open()
        try:
            with file, gzip.GzipFile(fileobj=file, mode="rb") if self.compressed else file as stream:
                size = None if self.compressed else os.fstat(file.fileno()).st_size
                while (data := self._read_record(stream, number, offset, size)) is not None:
                    yield data
                    number, offset = number + 1, offset + _HEADER.size + len(data) + _FOOTER.size
        except (OSError, EOFError, zlib.error) as error:
            hint = " (truncated or damaged gzip stream?)" if self.compressed else ""
            raise self._error(number, offset, f"cannot read{hint}: {error}") from error

    def _check_seekable(self) -> None:
        if self.compressed:
            raise _Unseekable(
                f"{self.path}: a gzip-compressed record file can only be read in order; "
                "decompress it (gunzip -k) for random access"
            )

    def index(self) -> list[int]:
        """Byte offsets of the records, from their headers alone (payloads are skipped); cached."""
        self._check_seekable()
        if self._index is None:
            offsets: array[int] = array("q")
            try:
                with self._open() as stream:
                    size, offset = os.fstat(stream.fileno()).st_size, 0
                    while (length := self._read_header(stream, len(offsets), offset, size)) is not None:
                        offsets.append(offset)
                        offset += _HEADER.size + length + _FOOTER.size
                        stream.seek(offset)
            except OSError as error:
                raise DatasetError(f"{self.path}: cannot read record file: {error}") from error
            self._index = offsets
        return self._index.tolist()

    def read_at(self, offset: int) -> bytes:
        """The payload of the record at byte ``offset``, an entry of ``index()`` (checked once indexed)."""
        self._check_seekable()
        number = None
        if self._index is not None:
            number = bisect_left(self._index, offset)
            if number == len(self._index) or self._index[number] != offset:
                raise DatasetError(f"{self.path}: no record starts at byte {offset} (see index())")
        try:
            with self._open() as stream:
                stream.seek(offset)
                data = self._read_record(stream, number, offset, os.fstat(stream.fileno()).st_size)
        except OSError as error:
            raise self._error(number, offset, f"cannot read: {error}") from error
        if data is None:
            raise DatasetError(f"{self.path}: no record at byte {offset}: that is the end of the file")
        return data

    def __len__(self) -> int:
        """The number of records (indexes the file, as ``list(reader)`` does when it asks for a length)."""
        return len(self._index) if self._index is not None else len(self.index())
