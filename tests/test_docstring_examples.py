"""The examples in the public API's docstrings run as written (each in a fresh folder)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from crnn_ctc.api import Recognizer
from crnn_ctc.evaluate import evaluate_source
from crnn_ctc.export import export_onnx
from crnn_ctc.synth.generator import SynthGenerator
from crnn_ctc.training.loop import train


def example(documented: object) -> str:
    """The code block after ``Example::`` in a docstring."""
    doc = documented.__doc__ or ""
    assert "Example::" in doc, f"{documented} has no example"
    block = doc.split("Example::", 1)[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line.strip() and not line.startswith("    " * 2) and not line.startswith("        "):
            break
        lines.append(line)
    return textwrap.dedent("\n".join(lines))


def run_example(documented: object, folder: Path) -> dict[str, object]:
    namespace: dict[str, object] = {}
    here = Path.cwd()
    os.chdir(folder)
    try:
        exec(compile(example(documented), f"<example of {documented}>", "exec"), namespace)
    finally:
        os.chdir(here)
    return namespace


@pytest.mark.parametrize("documented", [Recognizer, evaluate_source, export_onnx], ids=lambda d: d.__name__)
def test_inference_examples_run(documented: object, tmp_path: Path) -> None:
    run_example(documented, tmp_path)
    if documented is export_onnx:
        assert (tmp_path / "model.onnx").is_file()


def _fonts_installed() -> bool:
    from crnn_ctc.synth.fonts import find_fonts

    try:
        return bool(find_fonts())
    except Exception:
        return False


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::crnn_ctc.synth.fonts.FontWarning")  # fonts that cannot draw the charset
def test_generator_and_training_examples_run(tmp_path: Path) -> None:
    if not _fonts_installed():
        pytest.skip("no fonts installed; run `make fonts`")
    run_example(SynthGenerator, tmp_path)
    assert (tmp_path / "line.png").is_file()
    namespace = run_example(train, tmp_path)
    assert Path(tmp_path / "runs" / "tiny" / "model.safetensors").is_file() and namespace["result"]
