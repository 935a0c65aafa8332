"""Broken datasets through the command line: a truncated or garbled LMDB is an error (exit 2, the path and
what to do) in every command that reads one, never a signal or a traceback; a folder dataset's missing
image counts as wrong, as a corrupt one does, instead of stopping the evaluation."""

from __future__ import annotations

import io
import mmap
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from crnn_ctc.bundle import new_bundle, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.cli import main
from crnn_ctc.data.lmdb_store import LmdbWriter

DAMAGED = "the dataset is damaged or truncated"


def _png(text: str) -> bytes:
    image = Image.new("L", (12 * len(text) + 16, 32), 255)
    ImageDraw.Draw(image).text((4, 8), text, fill=0)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def good_lmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lmdb") / "good"
    writer = LmdbWriter(path)
    for index in range(40):
        word = f"word{index}"
        writer.add(_png(word), word, Image.open(io.BytesIO(_png(word))).size)
    writer.close()
    return path


def truncated(good: Path, where: Path) -> Path:
    """The store cut to half its size, as a copy interrupted or a full disk leaves it."""
    shutil.copytree(good, where)
    data = where / "data.mdb"
    os.truncate(data, data.stat().st_size // 2)
    return where


def garbled(good: Path, where: Path) -> Path:
    """The store with every page past the two meta pages overwritten."""
    shutil.copytree(good, where)
    data = where / "data.mdb"
    size = data.stat().st_size
    with data.open("r+b") as file:
        file.seek(2 * mmap.PAGESIZE)
        file.write(b"\xa5" * (size - 2 * mmap.PAGESIZE))
    return where


def _crnn(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """In a child process: a SIGBUS there must fail the test, not kill the test run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "crnn_ctc", *map(str, args)], capture_output=True, text=True, timeout=300, cwd=cwd,
        env=env,
    )  # fmt: skip


@pytest.mark.parametrize("damage", [truncated, garbled])
@pytest.mark.parametrize("command", ["eval", "inspect", "train"])
def test_a_damaged_lmdb_is_an_error_in_every_command_that_reads_one(good_lmdb, tmp_path, damage, command) -> None:
    broken = damage(good_lmdb, tmp_path / "broken")
    if command == "eval":
        result = _crnn("eval", "--data", broken, "--backend", "torch", cwd=tmp_path)
    elif command == "inspect":
        result = _crnn("dataset", "inspect", broken, "--grid", tmp_path / "grid.png", cwd=tmp_path)
    else:
        result = _crnn(
            "train", "--train", good_lmdb, "--val", broken, "--model-dir", tmp_path / "run", "--arch", "small",
            "--max-steps", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--amp", "off",
            "--no-progress", cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"crnn: error: {broken}: {DAMAGED}") and last.endswith("re-create it"), last


def test_a_store_cut_short_after_it_was_opened_is_an_error_not_a_signal(good_lmdb, tmp_path) -> None:
    script = (
        "import os, sys\n"
        "from crnn_ctc.data.lmdb_store import LmdbDataset\n"
        "from crnn_ctc.errors import DatasetError\n"
        "dataset = LmdbDataset(sys.argv[1])\n"
        "data = os.path.join(sys.argv[1], 'data.mdb')\n"
        "os.truncate(data, os.path.getsize(data) // 2)\n"
        "try:\n"
        "    dataset.sizes()\n"
        "except DatasetError as error:\n"
        "    print(error)\n"
    )
    copy = tmp_path / "copy"
    shutil.copytree(good_lmdb, copy)
    result = subprocess.run([sys.executable, "-c", script, str(copy)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert DAMAGED in result.stdout


def test_a_missing_image_counts_as_wrong_like_a_corrupt_one(tmp_path, capsys) -> None:
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "good.png").write_bytes(_png("hello"))
    (folder / "corrupt.png").write_bytes(_png("coffee")[:40])
    (folder / "labels.tsv").write_text("good.png\thello\nmissing.png\tstreet\ncorrupt.png\tcoffee\n", encoding="utf-8")
    model = save_bundle(new_bundle("small", Charset.preset("lower-alnum"), seed=0), tmp_path / "m.safetensors")
    predictions = tmp_path / "predictions.tsv"
    code = main(["eval", "--data", str(folder), "--model", str(model), "--backend", "torch", "--protocol", "raw",
                 "--predictions", str(predictions)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1, err
    assert f"crnn: error: {folder / 'missing.png'}: cannot read image" in err
    assert f"crnn: error: {folder / 'corrupt.png'}: " in err
    assert "2 samples could not be read (counted as wrong)" in err
    assert " 3 " in out.splitlines()[-1]  # every sample scored: three, the missing one included
    rows = predictions.read_text(encoding="utf-8").splitlines()[1:]
    assert [row.split("\t")[1] for row in rows] == ["hello", "street", "coffee"]  # in the dataset's order
    assert rows[1].split("\t")[2] == "" and "cannot read image" in rows[1].split("\t")[4]
