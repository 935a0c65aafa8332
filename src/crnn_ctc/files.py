"""Writing outputs so that a reader never sees half of one, whatever interrupts the writer."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from .errors import DatasetError, OutputError


def cache_dir(name: str) -> Path:
    """``~/.cache/crnn-ctc/NAME`` (``$XDG_CACHE_HOME`` honoured): what is slow to make and safe to remake."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "crnn-ctc" / name


def is_stream(path: Path) -> bool:
    """Whether ``path`` is a device, pipe or socket (``/dev/stdout``, ``/dev/null``, a FIFO): written in
    place, since renaming a file over it would replace the device itself, and is impossible for most users."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file that appears at ``path`` only once fully written (temporary file, fsync, rename);
    a stream (``is_stream``) is written in place."""
    path = Path(path)
    if is_stream(path):
        with path.open("wb") as stream:
            yield stream
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(handle, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def check_writable(path: str | Path) -> Path:
    """Raise ``OutputError`` now, before any work, when ``path`` cannot become a file: it is a folder,
    or the nearest existing folder above it is not a folder or cannot be written. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file to write")
    if is_stream(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{path}: cannot write there (no permission)")
        return path
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{path}: cannot write there ({ancestor} is not a folder)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write there (no permission to write in {ancestor})")
    return path


@contextmanager
def atomic_text_file(path: str | Path, encoding: str = "utf-8") -> Iterator[TextIO]:
    """``atomic_file`` for text. A path that cannot be written raises ``OutputError`` naming it: before
    the block runs (``check_writable``), or after it (a full disk, a folder created meanwhile)."""
    check_writable(path)
    stage = "opening"
    try:
        with atomic_file(path) as binary:
            text = io.TextIOWrapper(binary, encoding=encoding)
            stage = "block"
            try:
                yield text
                stage = "closing"
                text.flush()
            finally:
                text.detach()  # atomic_file closes the binary file itself
    except OSError as error:
        if stage == "block":  # the caller's own error, not the output's
            raise
        raise OutputError(f"{path}: cannot write: {error.strerror or error}") from None


def tsv_field(text: str) -> str:
    """One field of a plain TSV file (no quoting, so any reader splits it on TABs): TABs and line
    breaks, which would split the field or the row, become spaces."""
    return text.translate({9: " ", 10: " ", 13: " "})


def refuse_same_file(out: str | Path, inputs: Iterable[str | Path], flag: str) -> None:
    """Refuse to write ``out`` when it is one of ``inputs`` (the same file, whatever links lead to it)."""
    target = os.path.realpath(out)
    for source in inputs:
        if os.path.realpath(source) == target:
            raise OutputError(f"{flag} {out} is the input {source}: writing it would destroy that input")


def refuse_overlap(out: str | Path, inputs: Iterable[str | Path], flag: str) -> None:
    """Refuse an output folder that is, holds or lies inside an input: writing or replacing it would
    destroy the input (or mix the output into it)."""
    target = Path(os.path.realpath(out))
    for source in inputs:
        real = Path(os.path.realpath(source))
        if target == real:
            relation = "is"
        elif real.is_relative_to(target):
            relation = "contains"
        elif target.is_relative_to(real):
            relation = "is inside"
        else:
            continue
        raise OutputError(f"{flag} {out} {relation} the input {source}; choose an output folder apart from the inputs")


def _sweep_dead_partials(out: Path) -> None:
    """Remove partial folders that runs killed earlier left behind (their process is gone)."""
    for stale in out.parent.glob(f".{out.name}.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)


def occupied(out: Path) -> bool:
    """Whether ``out`` holds something that writing a folder there would replace."""
    return out.exists() and (not out.is_dir() or any(out.iterdir()))


def refuse_existing(out: Path, overwrite: bool) -> None:
    if occupied(out) and not overwrite:
        raise DatasetError(f"{out} already exists and is not empty; pass --overwrite to replace it")


@contextmanager
def staged_directory(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """A hidden ``.NAME.partial-PID`` folder to write into, renamed to ``out`` when the block succeeds.

    On any failure (Ctrl-C, a kill turned into KeyboardInterrupt, an error) it is removed; after a
    SIGKILL it stays hidden and unmistakably partial, and the next run sweeps it away. An existing
    ``out`` is replaced only with ``overwrite``, and only once the new folder is complete.
    """
    out = Path(out)
    refuse_existing(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_dead_partials(out)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        yield partial
        refuse_existing(out, overwrite)  # something else may have written it meanwhile
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            try:
                partial.rename(out)
            except BaseException:
                old.rename(out)  # the old folder goes back rather than stay hidden
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
