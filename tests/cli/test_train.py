"""``crnn train`` through the command line: the exit code of Ctrl-C, and an earlier run's folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import WORDS, render_word
from crnn_ctc.bundle import load_bundle
from crnn_ctc.cli import main


@pytest.fixture(scope="module")
def words_folder(tmp_path_factory) -> Path:
    """Sixteen rendered words with a labels.tsv: enough for a few steps of the tiny model."""
    root = tmp_path_factory.mktemp("words16")
    lines = []
    for index in range(16):
        word = WORDS[index % len(WORDS)]
        render_word(word, scale=1 + index % 2).save(root / f"{index}.png")
        lines.append(f"{index}.png\t{word}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _train(model_dir: Path, data: Path, *extra: str) -> list[str]:
    return ["train", "--train", str(data), "--model_dir", str(model_dir), "--arch", "tiny", "--batch_size", "8",
            "--workers", "0", "--seed", "3", "--no-progress", *extra]  # fmt: skip


def _folder_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ctrl_c_saves_a_checkpoint_and_exits_130(words_folder, tmp_path) -> None:
    command = [sys.executable, "-m", "crnn_ctc", *_train(tmp_path / "run", words_folder, "--max-steps", "100000",
                                                          "--save-every", "5")]  # fmt: skip
    # SIGINT as a terminal sends it, whatever this test's own parent ignores.
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted (resume with --resume)" in stdout and "crnn: interrupted" in stderr
    assert torch.load(checkpoint, weights_only=True)["step"] >= 5
    load_bundle(tmp_path / "run" / "model.safetensors")


@pytest.mark.parametrize("left", ["model.safetensors", "checkpoints/last.pt"])
def test_an_earlier_run_is_kept_unless_resume_or_overwrite(words_folder, tmp_path, capsys, left) -> None:
    run = tmp_path / "run"
    (run / left).parent.mkdir(parents=True, exist_ok=True)
    (run / left).write_bytes(b"an earlier run's file")
    (run / "log.csv").write_text("step,loss\n1,3.0\n")
    before = _folder_bytes(run)
    assert main(_train(run, words_folder, "--max-steps", "1")) == 2
    err = capsys.readouterr().err
    assert f"{run} holds a training run ({left})" in err and "--resume" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert _folder_bytes(run) == before
    assert main(_train(run, words_folder, "--max-steps", "1", "--resume", "--overwrite")) == 2
    assert _folder_bytes(run) == before
    # --overwrite starts over, and replaces the earlier files.
    assert main(_train(run, words_folder, "--max-steps", "1", "--overwrite")) == 0
    load_bundle(run / "model.safetensors")
    assert (run / "log.csv").read_text() != before["log.csv"].decode()
