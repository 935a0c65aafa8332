"""files.py: outputs that are streams (a pipe, /dev/null, /dev/stdout) are written in place, never
replaced by a regular file."""

import os
import stat
import threading
from pathlib import Path

from crnn_ctc.files import atomic_text_file, check_writable, is_stream


def test_a_pipe_is_written_in_place_and_stays_a_pipe(tmp_path) -> None:
    fifo = tmp_path / "results"
    os.mkfifo(fifo)
    received: list[str] = []
    # A daemon: should the pipe never be written, the test fails instead of hanging at exit.
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    assert is_stream(fifo) and check_writable(fifo) == fifo
    with atomic_text_file(fifo) as file:
        file.write("word\thello\n")
    reader.join(timeout=30)
    assert received == ["word\thello\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no temporary file beside it


def test_devices_are_streams() -> None:
    # Not written here: were this to regress, a test run as root would replace /dev/null by a file.
    assert is_stream(Path(os.devnull))


def test_a_regular_file_or_a_missing_one_is_not_a_stream(tmp_path) -> None:
    (tmp_path / "plain.tsv").write_text("x\n")
    assert not is_stream(tmp_path / "plain.tsv") and not is_stream(tmp_path / "missing.tsv")
