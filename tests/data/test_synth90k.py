"""Synth90k download against a local HTTP server: resume, checksums, safe extraction, the image lists."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from crnn_ctc.data import synth90k
from crnn_ctc.data.annotations import label_from_synth90k_name
from crnn_ctc.data.synth90k import ROOT_IN_ARCHIVE, download_synth90k, image_root
from crnn_ctc.errors import DatasetError

WORDS = ["apple", "Bridge", "coffee", "DELTA", "echo", "fig", "Grape", "hotel", "ink", "jazz"]
EMPTY_INDEX = 7  # Synth90k holds a few empty (broken) images: one here too, listed in the train split


@dataclass(frozen=True)
class Archive:
    body: bytes
    images: list[str]  # every non-empty image, in archive order, as ``./1/1/0_apple_100.jpg``
    train: list[str]  # what the train list must hold: listed, present and not empty


def _jpeg(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (16, 8), shade).save(buffer, "JPEG")
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    tar.addfile(info, io.BytesIO(data) if data or kind == tarfile.REGTYPE else None)


def build_archive(unsafe: tuple[str, bytes, str] | None = None) -> Archive:
    """30 JPEGs in ``./1/1`` and ``./1/2`` under Synth90k's root, text files first as the tests expect."""
    paths = [f"./1/{1 + i // 15}/{i}_{WORDS[i % len(WORDS)]}_{100 + i}.jpg" for i in range(30)]
    lexicon = "\n".join(WORDS) + "\n"
    train_lines = [*paths[:20], "./1/3/99_missing_1.jpg"]  # one listed image that the archive lacks
    annotations = {
        "annotation_train.txt": "".join(f"{p} {(100 + n) % 10}\n" for n, p in enumerate(train_lines)),
        "annotation_val.txt": "".join(f"{p} {n}\n" for n, p in enumerate(paths[20:26])),
        "lexicon.txt": lexicon,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for folder in ("mnt", "mnt/ramdisk", "mnt/ramdisk/max", ROOT_IN_ARCHIVE):
            _add(tar, folder, kind=tarfile.DIRTYPE)
        for name, text in annotations.items():
            _add(tar, f"{ROOT_IN_ARCHIVE}/{name}", text.encode())
        if unsafe is not None:
            _add(tar, unsafe[0], b"evil\n" if unsafe[1] == tarfile.REGTYPE else b"", unsafe[1], unsafe[2])
        for folder in ("1", "1/1", "1/2"):
            _add(tar, f"{ROOT_IN_ARCHIVE}/{folder}", kind=tarfile.DIRTYPE)
        for index, path in enumerate(paths):
            _add(tar, f"{ROOT_IN_ARCHIVE}/{path[2:]}", b"" if index == EMPTY_INDEX else _jpeg(index * 8))
    images = [p for i, p in enumerate(paths) if i != EMPTY_INDEX]
    return Archive(buffer.getvalue(), images, [p for p in train_lines if p in images])


class ArchiveServer(ThreadingHTTPServer):
    """Serves one archive with Range support; can drop connections, ignore Range, or send corrupt bytes."""

    daemon_threads = True

    def __init__(self, body: bytes) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.body = body
        self.drop_after: int | None = None  # bytes sent before closing the connection...
        self.drops = 0  # ...on this many first requests
        self.ranges = True  # honour Range requests (else answer 200 with the whole body)
        self.corrupt = False  # flip one byte of what is sent
        self.requests: list[str | None] = []  # the Range header of each GET
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/mjsynth.tar.gz"


class _Handler(BaseHTTPRequestHandler):
    server: ArchiveServer

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def do_GET(self) -> None:
        server = self.server
        with server.lock:
            server.requests.append(self.headers.get("Range"))
            number = len(server.requests)
        if self.path == "/moved":  # as www.robots.ox.ac.uk sends the archive on to thor.robots.ox.ac.uk
            self.send_response(302)
            self.send_header("Location", "/mjsynth.tar.gz")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/mjsynth.tar.gz":
            self.send_error(404)
            return
        body = bytearray(server.body)
        if server.corrupt:
            body[len(body) // 2] ^= 0xFF
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        start = int(match.group(1)) if match and server.ranges else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if match and server.ranges else 200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body) - start))
        if match and server.ranges:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        payload = bytes(body[start:])
        if number <= server.drops and server.drop_after is not None:
            payload, self.close_connection = payload[: server.drop_after], True
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # a count=N client hangs up early on purpose
            self.close_connection = True


@pytest.fixture(scope="module")
def archive() -> Archive:
    return build_archive()


def _serve(request: pytest.FixtureRequest, body: bytes) -> ArchiveServer:
    server = ArchiveServer(body)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    request.addfinalizer(stop)
    return server


@pytest.fixture()
def server(request: pytest.FixtureRequest, archive: Archive) -> ArchiveServer:
    return _serve(request, archive.body)


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synth90k, "_RETRY_DELAY_S", 0.0)


def _listed(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _images_on_disk(dest: Path) -> list[str]:
    root = image_root(dest)
    return sorted("./" + p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))


def _check_full_result(dest: Path, listed: Path, archive: Archive) -> None:
    assert listed == dest / "annotation_train.txt"
    assert _listed(listed) == archive.train
    assert all((image_root(dest) / path).is_file() for path in archive.train)
    assert (dest / "mjsynth.tar.gz").read_bytes() == archive.body
    assert not (dest / "mjsynth.tar.gz.part").exists()
    assert (image_root(dest) / "lexicon.txt").read_text() == "\n".join(WORDS) + "\n"


@pytest.mark.parametrize("drops", [1, 3])
def test_full_download_resumes_after_dropped_connections(
    tmp_path: Path, server: ArchiveServer, archive: Archive, drops: int
) -> None:
    step = len(archive.body) // 4
    server.drop_after, server.drops = step, drops
    sha256, md5 = hashlib.sha256(archive.body).hexdigest(), hashlib.md5(archive.body).hexdigest()
    listed = download_synth90k(tmp_path / "data", url=server.url, sha256=sha256, md5=md5.upper(), progress=False)
    assert server.requests == [None] + [f"bytes={step * n}-" for n in range(1, drops + 1)]
    _check_full_result(tmp_path / "data", listed, archive)
    marker = json.loads((tmp_path / "data" / synth90k.MARKER_NAME).read_text())
    assert (marker["sha256"], marker["md5"]) == (sha256, md5)


def test_resume_works_through_a_redirect(tmp_path: Path, server: ArchiveServer, archive: Archive) -> None:
    server.drop_after, server.drops = 1000, 2  # the redirect itself counts as the first request
    listed = download_synth90k(tmp_path, url=server.url.replace("/mjsynth.tar.gz", "/moved"), progress=False)
    assert server.requests == [None, None, "bytes=1000-", "bytes=1000-"]
    _check_full_result(tmp_path, listed, archive)


def test_a_server_that_ignores_range_makes_the_download_start_again(
    tmp_path: Path, server: ArchiveServer, archive: Archive
) -> None:
    server.drop_after, server.drops, server.ranges = 100, 1, False
    listed = download_synth90k(tmp_path, url=server.url, progress=False)
    assert server.requests == [None, "bytes=100-"]
    _check_full_result(tmp_path, listed, archive)


def test_a_complete_part_file_is_kept_when_the_server_answers_416(
    tmp_path: Path, server: ArchiveServer, archive: Archive
) -> None:
    (tmp_path / "mjsynth.tar.gz.part").write_bytes(archive.body)
    listed = download_synth90k(tmp_path, url=server.url, progress=False)
    assert server.requests == [f"bytes={len(archive.body)}-"]
    _check_full_result(tmp_path, listed, archive)


def test_a_second_run_downloads_and_extracts_nothing(tmp_path: Path, server: ArchiveServer, archive: Archive) -> None:
    download_synth90k(tmp_path, url=server.url, progress=False)
    (image_root(tmp_path) / archive.train[0]).unlink()  # a second extraction would bring it back
    val = download_synth90k(tmp_path, url=server.url, split="val", progress=False)
    assert _listed(val) == archive.images[19:25]  # the empty image shifts the indices by one
    assert len(server.requests) == 1
    assert not (image_root(tmp_path) / archive.train[0]).exists()
    # Without the marker, the archive on disk is checked and extracted again, still without a request.
    (tmp_path / synth90k.MARKER_NAME).unlink()
    listed = download_synth90k(tmp_path, url=server.url, sha256=hashlib.sha256(archive.body).hexdigest())
    assert len(server.requests) == 1
    _check_full_result(tmp_path, listed, archive)
    with pytest.raises(DatasetError, match="sha256"):
        download_synth90k(tmp_path, url=server.url, sha256="1" * 64, progress=False)


@pytest.mark.parametrize("case", ["wrong sha256", "wrong md5", "corrupt body"])
def test_a_checksum_mismatch_leaves_no_archive(
    tmp_path: Path, server: ArchiveServer, archive: Archive, case: str
) -> None:
    sums = {"sha256": hashlib.sha256(archive.body).hexdigest(), "md5": hashlib.md5(archive.body).hexdigest()}
    if case == "corrupt body":
        server.corrupt = True
    else:
        sums[case.split()[1]] = "0" * len(sums[case.split()[1]])
    with pytest.raises(DatasetError, match=r"mjsynth\.tar\.gz\.bad"):
        download_synth90k(tmp_path, url=server.url, progress=False, **sums)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mjsynth.tar.gz.bad"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"sha256": "abc"}, "not a hexadecimal sha256"),
        ({"md5": "z" * 32}, "not a hexadecimal md5"),
        ({"split": "everything"}, "unknown split"),
        ({"count": 0}, "count"),
        ({"count": 5, "md5": "0" * 32}, "checksum"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    tmp_path: Path, server: ArchiveServer, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        download_synth90k(tmp_path, url=server.url, progress=False, **arguments)
    assert server.requests == []


def test_the_download_gives_up_after_retries_without_progress(tmp_path: Path, server: ArchiveServer) -> None:
    server.drop_after, server.drops = 0, 100
    with pytest.raises(DatasetError, match=r"stopped 3 times in a row.*run the command again"):
        download_synth90k(tmp_path, url=server.url, retries=2, progress=False)
    assert len(server.requests) == 3
    assert not (tmp_path / "mjsynth.tar.gz").exists()


def test_an_http_error_is_reported_without_retrying(tmp_path: Path, server: ArchiveServer) -> None:
    with pytest.raises(DatasetError, match="HTTP 404"):
        download_synth90k(tmp_path, url=server.url + ".missing", progress=False)
    assert len(server.requests) == 1
    with pytest.raises(DatasetError, match="HTTP Error 404"):
        download_synth90k(tmp_path, url=server.url + ".missing", count=3, progress=False)


@pytest.mark.parametrize("count", [5, 100])
def test_count_streams_only_the_first_images(
    tmp_path: Path, server: ArchiveServer, archive: Archive, count: int
) -> None:
    listed = download_synth90k(tmp_path, url=server.url, count=count, progress=False)
    expected = archive.images[:count]
    assert listed == tmp_path / f"annotation_first{count}.txt"
    assert _listed(listed) == expected
    assert _images_on_disk(tmp_path) == sorted(expected)
    assert (image_root(tmp_path) / "annotation_train.txt").is_file()  # text files before the images come too
    assert not (tmp_path / "mjsynth.tar.gz").exists() and not (tmp_path / synth90k.MARKER_NAME).exists()
    assert len(server.requests) == 1


@pytest.mark.parametrize("count", [None, 5])
@pytest.mark.parametrize(
    "member",
    [
        ("../evil.txt", tarfile.REGTYPE, ""),
        (f"{ROOT_IN_ARCHIVE}/../../../../../evil.txt", tarfile.REGTYPE, ""),
        ("/tmp/evil.txt", tarfile.REGTYPE, ""),
        (f"{ROOT_IN_ARCHIVE}/evil-link", tarfile.SYMTYPE, "../../../../../evil.txt"),
        (f"{ROOT_IN_ARCHIVE}/evil-hardlink", tarfile.LNKTYPE, "../evil.txt"),
        (f"{ROOT_IN_ARCHIVE}/evil-device", tarfile.CHRTYPE, ""),
    ],
)
def test_unsafe_members_are_refused(
    request: pytest.FixtureRequest, tmp_path: Path, member: tuple[str, bytes, str], count: int | None
) -> None:
    server = _serve(request, build_archive(unsafe=member).body)
    dest = tmp_path / "data"
    with pytest.raises(DatasetError, match="refused archive member"):
        download_synth90k(dest, url=server.url, count=count, progress=False)
    assert not (tmp_path / "evil.txt").exists()
    assert not (dest / synth90k.MARKER_NAME).exists()
    assert not list(dest.glob("annotation_*.txt")) and not _images_on_disk(dest)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("373_coley_14845.jpg", "coley"),
        ("./2911/6/77_heretical_35885.jpg", "heretical"),
        ("1_McDONALD_2.jpg", "McDONALD"),
        ("5_snake_case_word_9.jpg", "snake_case_word"),
        ("12_x_3", "x"),
    ],
)
def test_label_from_synth90k_name(name: str, label: str) -> None:
    assert label_from_synth90k_name(name) == label


@pytest.mark.parametrize("name", ["coley.jpg", "373_coley.jpg", "1__2.jpg", "", "./1/1/"])
def test_label_from_a_name_not_of_synth90k_form_raises(name: str) -> None:
    with pytest.raises(DatasetError, match="not a Synth90k file name"):
        label_from_synth90k_name(name)
