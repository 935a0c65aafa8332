"""WOFF 1.0 fonts unpacked once into plain SFNT (TrueType/OpenType) files in the user's cache.

FreeType reads WOFF, but inflates every table each time a face is opened, and a face is opened
for every sample: unpacked once, the same tables are mapped instead. The copy draws exactly the
same glyphs.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from pathlib import Path

from .. import files

_VERSION = 1  # bump if the unpacking changes: old copies are then ignored
_HEADER = struct.Struct(">4sIIHHIHHIIIII")  # the WOFF header (44 bytes)
_ENTRY = struct.Struct(">4sIIII")  # a table: tag, offset, compressed length, length, checksum
_opened_as: dict[str, str] = {}  # font path -> the path to open (per process)


def cache_dir() -> Path:
    return files.cache_dir(f"sfnt-v{_VERSION}")


def sfnt_bytes(woff: bytes) -> bytes:
    """The SFNT font packed in a WOFF 1.0 file (``ValueError`` if it is not one)."""
    if len(woff) < _HEADER.size:
        raise ValueError("too short for a WOFF header")
    signature, flavor, _, count, *_ = _HEADER.unpack_from(woff)
    if signature != b"wOFF" or count == 0:
        raise ValueError("not a WOFF 1.0 file, or one without tables")
    tables = []
    for index in range(count):
        tag, offset, packed, length, checksum = _ENTRY.unpack_from(woff, _HEADER.size + index * _ENTRY.size)
        data = woff[offset : offset + packed]
        tables.append((tag, checksum, zlib.decompress(data) if packed < length else data))
    tables.sort()
    power = 1 << (count.bit_length() - 1)  # the binary-search fields of the SFNT table directory
    header = struct.pack(">IHHHH", flavor, count, power * 16, power.bit_length() - 1, count * 16 - power * 16)
    offset = len(header) + 16 * count
    records, bodies = [], []
    for tag, checksum, data in tables:
        records.append(struct.pack(">4sIII", tag, checksum, offset, len(data)))
        bodies.append(data + b"\0" * (-len(data) % 4))
        offset += len(bodies[-1])
    return header + b"".join(records) + b"".join(bodies)


def openable(path: str) -> str:
    """``path``, or for a WOFF file its unpacked copy in the cache (made on first use, atomically, so
    workers may race); ``path`` itself where no copy can be made."""
    opened_as = _opened_as.get(path)
    if opened_as is not None:
        return opened_as
    opened_as = path
    if path.lower().endswith(".woff"):
        try:
            stat = os.stat(path)
            key = hashlib.sha1(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}".encode(), usedforsecurity=False)
            copy = cache_dir() / f"{key.hexdigest()}.sfnt"
            if not copy.is_file():
                data = sfnt_bytes(Path(path).read_bytes())
                copy.parent.mkdir(parents=True, exist_ok=True)
                temporary = copy.with_name(f".{copy.name}.{os.getpid()}.tmp")
                temporary.write_bytes(data)
                temporary.replace(copy)
            opened_as = str(copy)
        except (OSError, ValueError, zlib.error, struct.error):
            opened_as = path  # FreeType reads the WOFF itself: slower, same glyphs
    _opened_as[path] = opened_as
    return opened_as
