"""Fetch Synth90k (MJSynth), unpack it safely and list its images for ``crnn dataset create``.

The archive is about 10 GB behind a server that often runs at ~100 KB/s, so the full download resumes
from a ``.part`` file and retries; ``count=N`` streams only the first N images for a quick start.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import posixpath
import re
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any, cast

from tqdm import tqdm

from ..errors import DatasetError

OFFICIAL_URL = "https://www.robots.ox.ac.uk/~vgg/data/text/mjsynth.tar.gz"
ARCHIVE_NAME = "mjsynth.tar.gz"
ROOT_IN_ARCHIVE = "mnt/ramdisk/max/90kDICT32px"
MARKER_NAME = ".mjsynth_extracted.json"  # written after extraction, holding the archive's digests
SPLITS = ("train", "val", "test")
_CHUNK = 1 << 20
_RETRY_DELAY_S = 1.0  # the wait after a failed attempt; doubles while attempts bring no new bytes (cap: 60 s)
_HEADERS = {"User-Agent": "crnn-ctc synth90k download", "Accept-Encoding": "identity"}
_NETWORK_ERRORS = (OSError, http.client.HTTPException)  # URLError, HTTPError, timeouts and resets are OSErrors
_HEX_LENGTH = {"sha256": 64, "md5": 32}
# Python 3.10.12+ / 3.11.4+ add tarfile's own "data" filter on top of our checks.
_EXTRACT_OPTIONS: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def image_root(dest: str | Path) -> Path:
    """The folder the archive's image paths (``./2911/6/...jpg``) are relative to: pass it as the image dir."""
    return Path(dest) / ROOT_IN_ARCHIVE


def download_synth90k(
    dest: str | Path,
    *,
    url: str = OFFICIAL_URL,
    count: int | None = None,
    split: str = "train",
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 5,
) -> Path:
    """Download and extract Synth90k into ``dest``; write and return the image list ``crnn dataset create`` reads.

    ``count=None``: the whole archive, resumed from ``dest/mjsynth.tar.gz.part`` across calls and retried up to
    ``retries`` times in a row without progress; then checked, renamed to ``mjsynth.tar.gz`` and extracted (a
    marker written last makes later calls skip both). The list is ``dest/annotation_<split>.txt``: the archive's
    own split, without its lexicon column. ``count=N``: only the first N images, streamed (no resume, no checksum
    possible on part of a file, ``split`` unused), listed in ``dest/annotation_firstN.txt``. Lines are paths
    relative to ``image_root(dest)`` (``./2911/6/77_heretical_35885.jpg``); images missing or empty on disk are
    left out (the archive holds a few broken ones).

    Checksums: VGG publishes none for mjsynth.tar.gz and none could be verified here, so there is no default.
    The byte count is always checked against the server's Content-Length / Content-Range; pass ``sha256`` or
    ``md5`` when you have a value you trust (MMOCR's dataset preparer once listed md5
    ``7bf2b60ad935eaf64e5b606f782d68e5``, a third-party value, unconfirmed). The marker records both digests.
    """
    dest = Path(dest)
    expected = {kind: value.strip().lower() for kind, value in (("sha256", sha256), ("md5", md5)) if value}
    for kind, value in expected.items():
        if not re.fullmatch(f"[0-9a-f]{{{_HEX_LENGTH[kind]}}}", value):
            raise DatasetError(f"{kind} {value!r} is not a hexadecimal {kind} digest")
    if count is not None and (count < 1 or expected):
        raise DatasetError(f"count={count}: need count >= 1, and no checksum (it covers the whole archive only)")
    if count is None and split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    try:
        dest.mkdir(parents=True, exist_ok=True)
        if count is not None:
            return _write_lines(
                dest / f"annotation_first{count}.txt", _stream_first(url, dest, count, timeout, progress)
            )
        marker = dest / MARKER_NAME
        recorded = _read_marker(marker)
        if recorded is None:
            digests = _fetch_verified(dest, url, expected, timeout, retries, progress)
            _extract(dest / ARCHIVE_NAME, dest, progress)
            _write_lines(marker, [json.dumps({"url": url, "archive": ARCHIVE_NAME, **digests})])
        else:
            for kind, want in expected.items():
                if recorded.get(kind, want) != want:
                    raise DatasetError(
                        f"{marker}: {dest} holds an archive with {kind} {recorded[kind]}, not {want}; "
                        f"delete {marker} and {ARCHIVE_NAME} to download again"
                    )
        root = image_root(dest)
        return _write_lines(dest / f"annotation_{split}.txt", _listed_images(root, split, progress), root)
    except OSError as error:  # a file problem the steps above did not already name more precisely
        raise DatasetError(f"{dest}: {error}; check the folder's permissions and free space, then run again") from error


def _read_marker(marker: Path) -> dict[str, Any] | None:
    """What the marker recorded, or None when extraction has not finished (no marker, or a torn one)."""
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _bar(progress: bool, unit: str, desc: str, total: int | None = None) -> tqdm[Any]:
    in_bytes = {"unit_scale": True, "unit_divisor": 1024} if unit == "B" else {}
    return tqdm(total=total, unit=unit, desc=desc, disable=not progress, file=sys.stderr, **in_bytes)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _open_url(url: str, headers: dict[str, str], timeout: float) -> Any:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except ValueError as error:  # not even a URL: no retry will help
        raise DatasetError(f"{url!r}: not a URL that can be downloaded: {error}") from error


def _fetch_verified(
    dest: Path, url: str, expected: dict[str, str], timeout: float, retries: int, progress: bool
) -> dict[str, str]:
    """Make ``dest/mjsynth.tar.gz`` exist and match ``expected``; return its sha256 and md5."""
    final, part, bad = (dest / (ARCHIVE_NAME + suffix) for suffix in ("", ".part", ".bad"))
    source = final if final.exists() else part
    if source == part:
        _download(url, part, timeout, retries, progress)
    digests = _digests(source, progress)
    wrong = [f"{kind} is {digests[kind]}, expected {want}" for kind, want in expected.items() if digests[kind] != want]
    if wrong:
        os.replace(source, bad)
        raise DatasetError(
            f"{url}: the archive's {' and '.join(wrong)}; it was moved to {bad}. Check the checksum you gave, "
            "delete that file and run the command again"
        )
    if source == part:
        os.replace(part, final)  # only now does the real name appear
    return digests


def _download(url: str, part: Path, timeout: float, retries: int, progress: bool) -> None:
    """Complete ``part`` from ``url``, resuming at its length; give up after ``retries`` failures in a row."""
    failures = 0
    with _bar(progress, "B", ARCHIVE_NAME) as bar:
        while True:
            before = part.stat().st_size if part.exists() else 0
            try:
                total = _fetch_once(url, part, before, timeout, bar)
                size = part.stat().st_size
                if total is None or size == total:
                    return
                if size > total:
                    part.unlink()
                    raise DatasetError(f"{url}: the server sent {size:,} bytes, more than the {total:,} announced")
                reason = "the connection closed early"
            except _NETWORK_ERRORS as error:
                reason, total = _describe(error), None
            size = part.stat().st_size if part.exists() else 0
            failures = 1 if size > before else failures + 1  # an attempt that brought bytes starts a new count
            if failures > retries:
                raise DatasetError(
                    f"{url}: the download stopped {failures} times in a row, last at byte {size:,} ({reason}); "
                    f"run the command again to resume from {part}"
                )
            time.sleep(min(_RETRY_DELAY_S * 2 ** (failures - 1), 60.0))


def _fetch_once(url: str, part: Path, have: int, timeout: float, bar: tqdm[Any]) -> int | None:
    """One request: append to ``part`` from byte ``have`` (or rewrite it); return the archive's size if known."""
    try:
        response = _open_url(url, dict(_HEADERS, Range=f"bytes={have}-") if have else _HEADERS, timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have:  # nothing after byte `have`: complete, or longer than the archive
            total = _content_range(error.headers.get("Content-Range", ""))[1]
            error.close()
            if total == have:
                return total
            part.unlink()
            return _fetch_once(url, part, 0, timeout, bar)
        if error.code in (408, 429) or error.code >= 500:
            raise  # worth a retry
        raise DatasetError(f"{url}: the server answered HTTP {error.code} {error.reason}; check the URL") from error
    with response:
        if have and response.status == 206:
            value, length = response.headers.get("Content-Range", ""), response.headers.get("Content-Length", "")
            start, total = _content_range(value)
            if start != have:
                raise DatasetError(f"{url}: asked for bytes {have}-, got Content-Range {value!r}; delete {part}")
            if total is None and length.isdigit():  # "bytes 100-999/*": the rest's length still tells the end
                total = have + int(length)
            mode = "ab"
        elif response.status == 200:  # a fresh start, or a server that ignores Range: start again from zero
            length = response.headers.get("Content-Length", "")
            have, mode, total = 0, "wb", int(length) if length.isdigit() else None
        else:
            raise DatasetError(f"{url}: unexpected HTTP status {response.status} {response.reason}")
        bar.reset(total=total)
        bar.update(have)
        with part.open(mode) as out:
            while chunk := response.read(_CHUNK):  # a network error here propagates, to be retried
                try:
                    out.write(chunk)
                    out.flush()
                except OSError as error:  # a full disk is not worth retrying
                    raise DatasetError(f"{part}: cannot write the download: {error}") from error
                bar.update(len(chunk))
    return total


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``bytes 100-999/1000`` -> (100, 1000); ``bytes */1000`` -> (None, 1000)."""
    match = re.fullmatch(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", value.strip())
    start, total = match.groups() if match else (None, None)
    return (int(start) if start else None), (int(total) if total and total != "*" else None)


def _digests(path: Path, progress: bool) -> dict[str, str]:
    hashes = {"sha256": hashlib.sha256(), "md5": hashlib.md5(usedforsecurity=False)}
    with path.open("rb") as stream, _bar(progress, "B", f"checking {path.name}", path.stat().st_size) as bar:
        while chunk := stream.read(_CHUNK):
            for digest in hashes.values():
                digest.update(chunk)
            bar.update(len(chunk))
    return {kind: digest.hexdigest() for kind, digest in hashes.items()}


def _unsafe_path(path: str) -> bool:
    return path.startswith(("/", "\\")) or path[1:2] == ":" or ".." in path.replace("\\", "/").split("/")


def _check_member(member: tarfile.TarInfo, source: str) -> None:
    """Refuse what could write outside the destination: absolute or ``..`` paths, links leading out, devices."""
    why = ""
    if _unsafe_path(member.name):
        why = "its path is absolute or holds '..'"
    elif member.isdev():
        why = "it is a device file or a FIFO"
    elif member.issym() or member.islnk():  # a symlink's target is relative to its folder, a hard link's to the root
        base = posixpath.dirname(member.name) if member.issym() else ""
        target = posixpath.normpath(posixpath.join(base, member.linkname))
        if member.linkname.startswith(("/", "\\")) or target == ".." or target.startswith("../"):
            why = f"it links to {member.linkname!r}, outside the archive"
    if why:
        raise DatasetError(f"{source}: refused archive member {member.name!r}: {why}; nothing of it was written")


def _extract(archive: Path, dest: Path, progress: bool) -> None:
    """Unpack ``archive`` as a stream: an index of its ~9 million members would take gigabytes of memory."""
    try:
        with tarfile.open(archive, "r|gz") as tar, _bar(progress, "file", f"extracting {archive.name}") as bar:
            for member in tar:
                _check_member(member, str(archive))
                tar.extract(member, dest, **_EXTRACT_OPTIONS)
                bar.update()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DatasetError(
            f"{archive}: extraction into {dest} failed ({error}); free some disk space if it is full, delete the "
            "archive if it is damaged, then run the command again"
        ) from error


class _CountingReader:
    """The HTTP response as tarfile reads it, moving the byte progress bar."""

    def __init__(self, response: Any, bar: tqdm[Any]) -> None:
        self.response, self.bar, self.bytes_read = response, bar, 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.response.read(size)
        self.bytes_read += len(data)
        self.bar.update(len(data))
        return data


def _stream_first(url: str, dest: Path, count: int, timeout: float, progress: bool) -> list[str]:
    """Extract the first ``count`` non-empty images (and the top-level .txt files before them); list them."""
    try:
        response = _open_url(url, _HEADERS, timeout)
    except _NETWORK_ERRORS as error:
        raise DatasetError(f"{url}: cannot start the download ({_describe(error)}); check the URL") from error
    prefix, images = ROOT_IN_ARCHIVE + "/", []
    length = response.headers.get("Content-Length", "")
    total = int(length) if length.isdigit() else None
    with response, _bar(progress, "B", ARCHIVE_NAME, total) as bar:
        reader = _CountingReader(response, bar)
        try:
            with tarfile.open(fileobj=cast(Any, reader), mode="r|gz") as tar:
                for member in tar:
                    _check_member(member, url)
                    name = member.name.removeprefix("./")
                    if not member.isfile() or not name.startswith(prefix):
                        continue  # directories, links, anything outside the image root
                    inside = name[len(prefix) :]
                    is_image = inside.lower().endswith(".jpg") and member.size > 0
                    if is_image or ("/" not in inside and inside.endswith(".txt")):
                        tar.extract(member, dest, **_EXTRACT_OPTIONS)
                    if is_image:
                        images.append("./" + inside)
                        bar.set_postfix_str(f"{len(images)}/{count} images", refresh=False)
                        if len(images) == count:
                            break  # closing the response drops the connection: the rest is never fetched
            if len(images) < count:  # tarfile ends quietly at a cut between members: count the bytes
                while reader.read(_CHUNK):
                    pass
                if total is not None and reader.bytes_read < total:
                    raise http.client.IncompleteRead(b"", total - reader.bytes_read)
        except (tarfile.TarError, EOFError, *_NETWORK_ERRORS) as error:
            raise DatasetError(
                f"{url}: the download stopped after {reader.bytes_read:,} bytes and {len(images)} of {count} "
                f"images ({_describe(error)}); run the command again"
            ) from error
    if not images:
        raise DatasetError(f"{url}: no images under {ROOT_IN_ARCHIVE}/ in this archive: is it Synth90k?")
    return images


def _listed_images(root: Path, split: str, progress: bool) -> Iterator[str]:
    """The paths in the archive's ``annotation_<split>.txt`` whose images exist and are not empty."""
    source, number = root / f"annotation_{split}.txt", 0
    try:
        with source.open(encoding="utf-8") as lines, _bar(progress, "img", f"listing {split}") as bar:
            for number, line in enumerate(lines, 1):
                fields = line.split()
                if not fields:
                    continue
                if _unsafe_path(fields[0]):
                    raise DatasetError(f"{source}:{number}: image path {fields[0]!r} leaves {root}")
                relative = fields[0].removeprefix("./")
                try:
                    size = os.stat(os.path.join(root, relative)).st_size
                except OSError:  # missing: left out
                    size = 0
                if size:
                    bar.update()
                    yield "./" + relative
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{source}:{number}: cannot read the {split} annotation file: {error}") from error


def _write_lines(path: Path, lines: Iterable[str], images_under: Path | None = None) -> Path:
    """Write ``lines`` to ``path`` via a temporary file and a rename: never half a list under the real name."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    written = 0
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line + "\n")
                written += 1
        if images_under is not None and not written:
            raise DatasetError(f"{path}: no listed image exists under {images_under}; delete {MARKER_NAME}, run again")
        os.replace(temporary, path)
    finally:
        with suppress(OSError):
            temporary.unlink()
    return path
