"""The bundled model: present, small enough, and reading the bundled samples out of the box."""

import subprocess
import sys
from pathlib import Path

from crnn_ctc import Recognizer
from crnn_ctc.bundle import BUNDLED_MODEL, read_description
from crnn_ctc.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "crnn_ctc" / "assets" / "samples"
MAX_BYTES = 20 * 1024 * 1024


def _labels() -> dict[str, str]:
    lines = (SAMPLES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line)


def test_bundled_model_is_shipped_and_within_the_size_limit() -> None:
    assert BUNDLED_MODEL.is_file(), "the package must ship its pretrained model"
    assert BUNDLED_MODEL.stat().st_size <= MAX_BYTES
    description = read_description(BUNDLED_MODEL)
    symbols = set(description["charset"])
    assert set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,:;!?'\"-$%&()") <= symbols


def test_recognizer_without_a_path_reads_the_bundled_samples() -> None:
    labels = _labels()
    recognizer = Recognizer.load(device="cpu")
    predictions = recognizer.recognize([SAMPLES / name for name in labels])
    assert {Path(p.source).name: p.text for p in predictions} == labels


def test_cli_predict_and_eval_default_to_the_bundled_model(capsys) -> None:
    assert main(["predict", str(SAMPLES)]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert {Path(row[0]).name: row[1] for row in rows} == _labels()
    assert main(["eval", "--data", str(SAMPLES), "--protocol", "raw"]) == 0
    assert "100.00%" in capsys.readouterr().out


def test_make_demo_command_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "crnn_ctc", "predict", str(SAMPLES)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(_labels())


def test_the_shipped_int8_graph_belongs_to_the_bundled_model_and_auto_uses_it(monkeypatch) -> None:
    import platform

    from crnn_ctc import cpu
    from crnn_ctc.runtime import int8_companion

    # On a CPU with VNNI, where auto runs int8 graphs (elsewhere fp32: tests/runtime/test_runtime.py).
    monkeypatch.setattr(cpu, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "avx512_vnni"}))
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    companion = int8_companion(BUNDLED_MODEL)  # None if the model file changed without `make pretrained`
    assert companion is not None and companion.stat().st_size < BUNDLED_MODEL.stat().st_size
    recognizer = Recognizer.load(device="cpu")
    assert recognizer.engine.session.get_modelmeta().custom_metadata_map["crnn_ctc_quantization"] == "static"
    labels = _labels()
    for backend in ("torch", "onnx"):  # the fp32 paths read the samples too
        predictions = Recognizer.load(backend=backend).recognize([SAMPLES / name for name in labels])
        assert [p.text for p in predictions] == list(labels.values())


def test_the_shipped_fp32_graph_serves_cpus_without_vnni_with_no_export(monkeypatch) -> None:
    """Where the int8 graph is not used, ``auto`` runs the fp32 graph shipped beside the model: no
    PyTorch export on first use (so the core install reads there too)."""
    import platform

    import crnn_ctc.runtime as runtime
    from crnn_ctc import cpu

    monkeypatch.setattr(cpu, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "fma"}))
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert runtime.fp32_companion(BUNDLED_MODEL) is not None, "ship crnn-ctc-default.onnx (scripts/ship_model.sh)"

    def no_export(*args: object) -> bytes:
        raise AssertionError("the bundled model was exported although its fp32 graph ships")

    monkeypatch.setattr(runtime, "_export_and_cache", no_export)
    recognizer = Recognizer.load(device="cpu")
    assert "crnn_ctc_quantization" in recognizer.engine.session.get_modelmeta().custom_metadata_map
    assert recognizer.engine.session.get_modelmeta().custom_metadata_map["crnn_ctc_quantization"] == "fp32"
    labels = _labels()
    predictions = recognizer.recognize([SAMPLES / name for name in labels])
    assert [p.text for p in predictions] == list(labels.values())
