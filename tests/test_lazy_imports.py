"""PyTorch (seconds to import) only where it runs: `crnn --help`, `crnn predict --help` and recognizing on
a CPU under ONNX Runtime (the bundled int8 graph, a cached fp32 export, an ``.onnx`` file) never import it.

Each check runs in a fresh interpreter, since this one imported PyTorch long ago (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crnn_ctc import Recognizer
from crnn_ctc.bundle import BUNDLED_MODEL, load_bundle
from crnn_ctc.export import export_onnx

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "crnn_ctc" / "assets" / "samples"

# Recognize the bundled samples with Recognizer.load(MODEL or the bundled one, backend=BACKEND); argv:
# SAMPLES BACKEND CPU MODEL?, where CPU "no-vnni" stands in a CPU without VNNI (the fp32 graph under auto).
RECOGNIZE = """
import sys
from pathlib import Path

samples, backend, cpu_kind, *model = sys.argv[1:]
if cpu_kind == "no-vnni":
    from crnn_ctc import cpu

    cpu.cpu_flags = lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "fma"})
from crnn_ctc import Recognizer

lines = (Path(samples) / "labels.tsv").read_text(encoding="utf-8").splitlines()
labels = dict(line.split("\\t", 1) for line in lines if line)
recognizer = Recognizer.load(*model, backend=backend, threads=1)
texts = [p.text for p in recognizer.recognize([Path(samples) / name for name in labels])]
assert texts == list(labels.values()), texts
assert "torch" not in sys.modules, "PyTorch was imported"
print(recognizer.engine.session.get_modelmeta().custom_metadata_map.get("crnn_ctc_quantization", "fp32"))
"""

# The `crnn` command as `python -m crnn_ctc ARGS...` runs it, then the check.
COMMAND = """
import runpy
import sys

sys.argv = ["crnn", *sys.argv[1:]]
try:
    runpy.run_module("crnn_ctc", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert exit.code == 0, exit.code
assert "torch" not in sys.modules, "PyTorch was imported"
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty export cache: the bundled model ships its fp32 graph (``runtime.fp32_companion``), so
    every CPU runs it under ONNX Runtime without an export, and without PyTorch."""
    from crnn_ctc.runtime import fp32_companion

    cache = tmp_path_factory.mktemp("cache")
    assert fp32_companion(BUNDLED_MODEL) is not None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        Recognizer.load(BUNDLED_MODEL, backend="onnx", threads=1)
    assert not list((cache / "crnn-ctc" / "onnx").glob("*.onnx"))  # nothing was exported
    return cache


def _fresh(code: str, *args: str, cache: Path) -> str:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize(
    ("backend", "cpu_kind"),
    [("auto", "this"), ("auto", "no-vnni"), ("onnx", "this")],
    ids=["auto", "auto-without-vnni", "onnx"],
)
def test_the_bundled_model_on_the_cpu_needs_no_torch(cache, backend, cpu_kind) -> None:
    graph = _fresh(RECOGNIZE, str(SAMPLES), backend, cpu_kind, cache=cache).strip()
    from crnn_ctc.cpu import int8_reads_like_fp32

    # auto: the int8 companion where the CPU has VNNI, else the cached fp32 graph; onnx: always fp32.
    expected = "static" if backend == "auto" and cpu_kind == "this" and int8_reads_like_fp32() else "fp32"
    assert graph == expected


def test_an_onnx_file_needs_no_torch(cache, tmp_path) -> None:
    exported, _ = export_onnx(load_bundle(BUNDLED_MODEL), tmp_path / "bundled.onnx")
    assert _fresh(RECOGNIZE, str(SAMPLES), "auto", "this", str(exported), cache=cache).strip() == "fp32"


@pytest.mark.parametrize("args", [["--help"], ["predict", "--help"]], ids=["crnn", "predict"])
def test_help_needs_no_torch(cache, args) -> None:
    assert "usage: crnn" in _fresh(COMMAND, *args, cache=cache)


# Every command's --help in one fresh interpreter: a command's options never import PyTorch.
EVERY_HELP = """
import argparse
import contextlib
import io
import sys

from crnn_ctc.cli import _build_parser, main

parser = _build_parser()
COMMANDS = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
for command in COMMANDS:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main([command, "--help"])
        except SystemExit as exit:
            assert exit.code == 0, (command, exit.code)
    assert "usage: crnn " + command in out.getvalue(), command
    assert "torch" not in sys.modules, "crnn " + command + " --help imported PyTorch"
print(len(COMMANDS))
"""


def test_no_command_help_needs_torch(cache) -> None:
    assert int(_fresh(EVERY_HELP, cache=cache)) >= 12


def test_crnn_predict_needs_no_torch(cache) -> None:
    rows = [line.split("\t") for line in _fresh(COMMAND, "predict", str(SAMPLES), cache=cache).splitlines()]
    labels = dict(line.split("\t", 1) for line in (SAMPLES / "labels.tsv").read_text().splitlines() if line)
    assert {Path(row[0]).name: row[1] for row in rows} == labels


def test_the_network_is_still_there_when_asked_for(cache, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    by_onnx = Recognizer.load(backend="auto", threads=1)
    assert by_onnx.bundle is not None and by_onnx.bundle.path == BUNDLED_MODEL  # loaded on first use
    by_torch = Recognizer.load(backend="torch", device="cpu")
    assert by_torch.bundle is not None and by_torch.bundle.model is by_torch.engine.model  # the engine's own


def test_auto_asks_torch_about_the_device_only_where_it_might_see_a_gpu(monkeypatch, tmp_path) -> None:
    from crnn_ctc import runtime

    libraries, driver = tmp_path / "torch" / "lib", tmp_path / "nvidiactl"
    libraries.mkdir(parents=True)
    (libraries / "libtorch_cpu.so").touch()
    monkeypatch.setattr(runtime, "_torch_libraries", lambda: libraries)
    monkeypatch.setattr(runtime, "_GPU_DRIVER_FILES", (str(driver),))
    driver.touch()
    assert not runtime._gpu_possible()  # a PyTorch built for the CPU sees no GPU, whatever the machine has
    (libraries / "libtorch_cuda.so").touch()
    assert runtime._gpu_possible()  # a CUDA build and a driver: PyTorch decides
    driver.unlink()
    assert runtime._gpu_possible() == (not sys.platform.startswith("linux"))  # Linux without a GPU driver
    monkeypatch.setattr(runtime, "_torch_libraries", lambda: None)
    assert not runtime._gpu_possible()  # no PyTorch at all
    monkeypatch.undo()
    # Wherever it answers without PyTorch, it answers as PyTorch does.
    assert runtime._runs_on_cpu("auto") == (runtime.resolve_device("auto").type == "cpu")
    assert runtime._runs_on_cpu("cpu")
