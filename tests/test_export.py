"""ONNX export: dynamic batch and width, config in the metadata, parity enforced."""

import json

import numpy as np
import onnx
import pytest
import torch

from crnn_ctc.bundle import METADATA_KEY, load_bundle, new_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.export import ExportError, export_onnx, parity_check
from crnn_ctc.runtime.onnx_engine import OnnxEngine
from crnn_ctc.runtime.torch_engine import TorchEngine


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model_path):
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    path, worst = export_onnx(load_bundle(model_path), out)
    assert worst < 1e-4
    return path


def test_graph_has_native_lstm_and_the_config(exported, model_path) -> None:
    graph = onnx.load(str(exported))
    assert "LSTM" in {node.op_type for node in graph.graph.node}
    description = json.loads({p.key: p.value for p in graph.metadata_props}[METADATA_KEY])
    assert description == json.loads(json.dumps(load_bundle(model_path).describe()))
    assert OnnxEngine(exported).description()["charset"] == description["charset"]


def test_every_width_and_batch_matches_pytorch(exported, model_path) -> None:
    bundle = load_bundle(model_path)
    torch_engine, onnx_engine = TorchEngine(bundle.model, "cpu"), OnnxEngine(exported, threads=1)
    generator = np.random.default_rng(1)
    for width, batch in [(16, 1), (37, 4), (123, 2), (800, 3)]:
        images = generator.standard_normal((batch, 1, 32, width)).astype(np.float32)
        widths = np.array([width] + [int(w) for w in generator.integers(16, width + 1, batch - 1)], dtype=np.int64)
        expected, expected_lengths = torch_engine.run(images, widths)
        got, lengths = onnx_engine.run(images, widths)
        np.testing.assert_array_equal(lengths, expected_lengths)
        for row, length in enumerate(lengths):
            np.testing.assert_allclose(got[row, :length], expected[row, :length], atol=1e-4)


def test_parity_check_rejects_a_graph_that_differs(exported, model_path) -> None:
    bundle = load_bundle(model_path)
    with torch.no_grad():
        bundle.model.rnn[1].projection.bias[1] += 5.0  # the PyTorch model no longer matches the graph
    with pytest.raises(ExportError, match="differ"):
        parity_check(bundle, exported.read_bytes())


def test_int8_check_forgives_near_ties_but_not_classes_pytorch_ruled_out() -> None:
    from crnn_ctc.export import int8_agreeing_steps

    reference = np.log(np.array([[0.52, 0.47, 0.01], [0.9, 0.05, 0.05], [0.6, 0.32, 0.08]]))
    same = reference.copy()
    assert int8_agreeing_steps(reference, same) == 3
    near_tie = same.copy()
    near_tie[0] = np.log([0.4, 0.59, 0.01])  # step 0: PyTorch's second choice, nearly as likely
    assert int8_agreeing_steps(reference, near_tie) == 3
    ruled_out = near_tie.copy()
    ruled_out[1] = np.log([0.1, 0.8, 0.1])  # step 1: a class PyTorch gave 0.05 against 0.9
    ruled_out[2] = np.log([0.2, 0.7, 0.1])  # step 2: more than half as likely: still a tie
    assert int8_agreeing_steps(reference, ruled_out) == 2


def test_the_fp32_graph_is_described_as_fp32(exported) -> None:
    from crnn_ctc.runtime.onnx_engine import OnnxEngine
    from crnn_ctc.serve.app import engine_precision

    assert engine_precision(OnnxEngine(exported)) == "fp32"  # was "int8 (fp32)" on CPUs without VNNI


def test_damaged_onnx_file_is_refused(tmp_path) -> None:
    from crnn_ctc.errors import ModelFileError

    (tmp_path / "bad.onnx").write_bytes(b"not onnx at all")
    with pytest.raises(ModelFileError, match=r"bad\.onnx"):
        OnnxEngine(tmp_path / "bad.onnx")


def test_vgg_exports_too(tmp_path) -> None:
    bundle = new_bundle("vgg", Charset.preset("lower-alnum"), seed=0)
    _, worst = export_onnx(bundle, tmp_path / "vgg.onnx")
    assert worst < 1e-4


def _generated_images(count: int) -> list:
    import random

    from conftest import render_word

    generator = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return [
        render_word("".join(generator.choice(alphabet) for _ in range(generator.randint(1, 12))), scale=1 + i % 3)
        for i in range(count)
    ]


def test_backends_agree_on_hundreds_of_images(model_path, monkeypatch, tmp_path) -> None:
    from crnn_ctc import Recognizer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    images = _generated_images(240)
    by_torch = Recognizer.load(model_path, backend="torch", device="cpu").recognize(images, batch_size=32)
    onnx_recognizer = Recognizer.load(model_path, backend="onnx", threads=1)
    assert onnx_recognizer.engine.name == "onnx"
    by_onnx = onnx_recognizer.recognize(images, batch_size=32)
    assert [p.text for p in by_onnx] == [p.text for p in by_torch]
    for a, b in zip(by_onnx, by_torch, strict=True):
        assert abs(a.confidence - b.confidence) < 1e-4
    assert list((tmp_path / "crnn-ctc" / "onnx").glob("*.onnx"))  # the export is cached for the next load
    assert Recognizer.load(model_path, threads=1).engine.name == "onnx"  # auto prefers ONNX Runtime on the CPU


def test_the_onnx_file_alone_recognizes_text(exported, model_path, word_images, capsys) -> None:
    from crnn_ctc import Recognizer
    from crnn_ctc.cli import main

    alone = Recognizer.load(exported)
    assert alone.bundle is None and alone.info.path == exported
    expected = [p.text for p in Recognizer.load(model_path, backend="torch").recognize(word_images)]
    assert [p.text for p in alone.recognize(word_images)] == expected
    assert main(["predict", "--model", str(exported), *map(str, word_images)]) == 0
    assert [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()] == expected
    assert main(["predict", "--model", str(exported), "--backend", "torch", str(word_images[0])]) == 2
    assert "ONNX model" in capsys.readouterr().err


def test_crnn_export_command(model_path, tmp_path, capsys) -> None:
    from crnn_ctc.cli import main

    assert main(["export", "--model", str(model_path), "--out", str(tmp_path / "m.onnx")]) == 0
    assert "parity with PyTorch" in capsys.readouterr().out
    assert OnnxEngine(tmp_path / "m.onnx").description()["model"]["arch"] == "small"


def test_int8_export_is_smaller_and_reads_the_same(exported, model_path, word_images, tmp_path) -> None:
    from crnn_ctc import Recognizer

    path, _ = export_onnx(load_bundle(model_path), tmp_path / "int8.onnx", int8="dynamic")
    graph_ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "DynamicQuantizeLSTM" in graph_ops or "MatMulInteger" in graph_ops
    assert "ConvInteger" not in graph_ops  # dynamically quantised convolutions measured 2-3x slower here
    assert path.stat().st_size < exported.stat().st_size
    expected = [p.text for p in Recognizer.load(exported).recognize(word_images)]
    assert [p.text for p in Recognizer.load(path).recognize(word_images)] == expected


def labelled_folder(word_images, tmp_path):
    """The fixture words as a dataset folder (labels.tsv), repeated so calibration has enough images."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    lines = [f"{path}\t{path.stem.split('_', 1)[1]}" for path in word_images] * 3
    (tmp_path / "labels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_static_int8_quantises_the_convolutions_and_reads_the_same(exported, model_path, word_images, tmp_path) -> None:
    from crnn_ctc import Recognizer
    from crnn_ctc.export import QUANTIZATION_KEY, SOURCE_KEY, file_sha256

    data = labelled_folder(word_images, tmp_path / "calibration")
    path, _ = export_onnx(load_bundle(model_path), tmp_path / "static.onnx", int8=True, calibration=data,
                          calibration_count=30)  # fmt: skip
    graph = onnx.load(str(path))
    quantized_inputs = {node.input[0] for node in graph.graph.node if node.op_type == "DequantizeLinear"}
    conv_inputs = {name for node in graph.graph.node if node.op_type == "Conv" for name in node.input}
    assert quantized_inputs and conv_inputs & {n.output[0] for n in graph.graph.node if n.op_type == "DequantizeLinear"}
    metadata = {entry.key: entry.value for entry in graph.metadata_props}
    assert metadata[QUANTIZATION_KEY] == "static" and metadata[SOURCE_KEY] == file_sha256(model_path)
    expected = [p.text for p in Recognizer.load(exported).recognize(word_images)]
    assert [p.text for p in Recognizer.load(path).recognize(word_images)] == expected


def test_auto_backend_uses_the_int8_companion_only_if_it_belongs_to_the_model(
    model_path, word_images, tmp_path, monkeypatch
) -> None:
    import platform
    import shutil

    from crnn_ctc import Recognizer, cpu

    # A CPU with VNNI, where auto runs int8 graphs at all (tests/runtime/test_runtime.py checks the CPU rule).
    monkeypatch.setattr(cpu, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset({"avx2", "avx512_vnni"}))
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")

    model = tmp_path / "m.safetensors"
    shutil.copy(model_path, model)
    assert Recognizer.load(model, backend="auto").engine.session.get_modelmeta().custom_metadata_map.get(
        "crnn_ctc_quantization"
    ) is None  # fmt: skip
    export_onnx(load_bundle(model), tmp_path / "m.int8.onnx", int8="dynamic")
    chosen = Recognizer.load(model, backend="auto").engine.session.get_modelmeta().custom_metadata_map
    assert chosen["crnn_ctc_quantization"] == "dynamic"
    fp32 = Recognizer.load(model, backend="onnx").engine.session.get_modelmeta().custom_metadata_map
    assert "crnn_ctc_quantization" not in fp32 or fp32["crnn_ctc_quantization"] == "fp32"
    model.write_bytes(model.read_bytes())  # same bytes: still its companion
    assert Recognizer.load(model).engine.session.get_modelmeta().custom_metadata_map["crnn_ctc_quantization"]
    bundle = load_bundle(model)
    bundle.provenance["note"] = "retrained"
    from crnn_ctc.bundle import save_bundle

    save_bundle(bundle, model)  # another version of the file: its old companion is not trusted
    with pytest.warns(UserWarning, match="not exported from m.safetensors"):
        recognizer = Recognizer.load(model)
    assert "crnn_ctc_quantization" not in recognizer.engine.session.get_modelmeta().custom_metadata_map


def test_export_command_int8_static_with_calibration_data(model_path, word_images, tmp_path, capsys) -> None:
    from crnn_ctc.cli import main

    data = labelled_folder(word_images, tmp_path / "calibration")
    out = tmp_path / "m.int8.onnx"
    argv = ["export", "--model", str(model_path), "--out", str(out), "--int8", "--calibration", str(data),
            "--calibration-count", "24"]  # fmt: skip
    assert main(argv) == 0
    assert "static int8" in capsys.readouterr().out and out.is_file()
    assert main(["export", "--model", str(model_path), "--out", str(out), "--int8", "--calibration",
                 str(tmp_path / "missing")]) == 2  # fmt: skip
    assert "no such dataset" in capsys.readouterr().err


def test_static_int8_refuses_too_few_calibration_images(model_path, word_images, tmp_path) -> None:
    data = labelled_folder(word_images, tmp_path / "calibration")
    with pytest.raises(ExportError, match="at least 16"):
        export_onnx(load_bundle(model_path), tmp_path / "x.onnx", int8=True, calibration=data, calibration_count=8)
    assert not (tmp_path / "x.onnx").exists()
