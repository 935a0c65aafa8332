"""The engines' choices: which graph ``--backend auto`` runs on which CPU (int8 only with VNNI), and an
ONNX export cache that heals a damaged entry."""

from __future__ import annotations

import platform
import warnings

import pytest

from crnn_ctc import Recognizer, cpu
from crnn_ctc.bundle import BUNDLED_MODEL, load_bundle, new_bundle, save_bundle
from crnn_ctc.charset import Charset
from crnn_ctc.export import QUANTIZATION_KEY

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})
AVX512_WITHOUT_VNNI = AVX2_ONLY | {"avx512f", "avx512bw", "avx512vl"}
WITH_VNNI = {
    "avx512_vnni": AVX512_WITHOUT_VNNI | {"avx512_vnni"},
    "avx_vnni": AVX2_ONLY | {"avx_vnni"},
    "amx_int8": AVX512_WITHOUT_VNNI | {"amx_tile", "amx_int8"},
}


def fake_cpu(monkeypatch: pytest.MonkeyPatch, flags: frozenset[str], machine: str = "x86_64") -> None:
    monkeypatch.setattr(cpu, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset(flags))
    monkeypatch.setattr(platform, "machine", lambda: machine)


def quantization(recognizer: Recognizer) -> str | None:
    return recognizer.engine.session.get_modelmeta().custom_metadata_map.get(QUANTIZATION_KEY)


@pytest.mark.parametrize("flags", list(WITH_VNNI.values()), ids=list(WITH_VNNI))
def test_int8_only_on_x86_with_vnni(flags) -> None:
    assert cpu.int8_reads_like_fp32(flags, "x86_64") and cpu.int8_reads_like_fp32(flags, "AMD64")
    assert not cpu.int8_reads_like_fp32(AVX2_ONLY, "x86_64")
    assert not cpu.int8_reads_like_fp32(AVX512_WITHOUT_VNNI, "x86_64")
    assert not cpu.int8_reads_like_fp32(frozenset(), "x86_64")  # flags unknown: fp32
    # ARM lists its own flags; int8 has not been measured there, so fp32 whatever they are.
    assert not cpu.int8_reads_like_fp32(frozenset({"fp", "asimd", "asimddp", "i8mm"}) | flags, "aarch64")


@pytest.mark.parametrize("flags", list(WITH_VNNI.values()), ids=list(WITH_VNNI))
def test_exact_int8_kernels_asked_for_only_on_x86_without_vnni(flags, monkeypatch) -> None:
    assert cpu.int8_kernels_may_saturate(AVX2_ONLY, "x86_64") and cpu.int8_kernels_may_saturate(
        AVX512_WITHOUT_VNNI, "x86_64"
    )
    assert not cpu.int8_kernels_may_saturate(flags, "x86_64")  # VNNI adds in 32 bits: the fast kernels are exact
    assert not cpu.int8_kernels_may_saturate(AVX2_ONLY, "aarch64")  # no x86 kernels there
    # The engine passes the choice to ONNX Runtime (tests/runtime/test_int8_without_vnni.py shows its effect).
    import onnxruntime

    from crnn_ctc.bundle import BUNDLED_MODEL
    from crnn_ctc.runtime.onnx_engine import OnnxEngine

    asked: list[tuple[str, str]] = []
    original = onnxruntime.SessionOptions.add_session_config_entry

    class Options(onnxruntime.SessionOptions):
        def add_session_config_entry(self, key: str, value: str) -> None:
            asked.append((key, value))
            original(self, key, value)

    monkeypatch.setattr(onnxruntime, "SessionOptions", Options)
    graph = BUNDLED_MODEL.with_name("crnn-ctc-default.int8.onnx")
    for cpu_flags, expected in ((AVX2_ONLY, True), (flags, False)):
        fake_cpu(monkeypatch, cpu_flags)
        asked.clear()
        OnnxEngine(graph, threads=1)
        assert (("session.x64quantprecision", "1") in asked) == expected


@pytest.mark.parametrize(
    ("flags", "machine", "expected"),
    [
        (WITH_VNNI["avx512_vnni"], "x86_64", "static"),
        (WITH_VNNI["avx_vnni"], "x86_64", "static"),
        (AVX2_ONLY, "x86_64", "fp32"),  # the fp32 graph shipped beside the model
        (AVX512_WITHOUT_VNNI, "x86_64", "fp32"),
        (frozenset({"fp", "asimd", "asimddp"}), "aarch64", "fp32"),
    ],
    ids=["avx512-vnni", "avx-vnni", "avx2-only", "avx512-no-vnni", "arm"],
)
def test_auto_runs_the_shipped_int8_graph_only_where_the_cpu_has_vnni(monkeypatch, flags, machine, expected) -> None:
    fake_cpu(monkeypatch, flags, machine)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rule is no fallback: nothing to warn about either way
        recognizer = Recognizer.load(BUNDLED_MODEL, threads=1)
    assert recognizer.engine.name == "onnx" and quantization(recognizer) == expected


def test_describe_cpu_names_the_cpu_and_the_flags_that_decide(monkeypatch, tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu avx2 avx512f avx512_vnni\n")
    assert cpu.cpu_name(info) == "Example CPU 9000"
    assert cpu.cpu_flags(info) == {"fpu", "avx2", "avx512f", "avx512_vnni"}
    fake_cpu(monkeypatch, cpu.cpu_flags(info))
    line = cpu.describe_cpu()
    assert "flags: avx2 avx512f avx512_vnni;" in line and "used (VNNI)" in line
    assert "not used (no VNNI)" in cpu.describe_cpu(AVX2_ONLY)


def test_a_damaged_export_cache_entry_is_removed_and_rebuilt_with_a_warning(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = save_bundle(new_bundle("small", Charset.preset("lower-alnum"), seed=0), tmp_path / "m.safetensors")
    first = Recognizer.load(model, backend="onnx", threads=1)
    (entry,) = (tmp_path / "cache" / "crnn-ctc" / "onnx").glob("*.onnx")
    good = entry.read_bytes()
    for damage in (good[: len(good) // 3], b"\0" * 64, b""):  # cut short, overwritten, emptied
        entry.write_bytes(damage)
        with pytest.warns(UserWarning, match=f"{entry}: a damaged entry of the ONNX export cache"):
            healed = Recognizer.load(model, backend="onnx", threads=1)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = Recognizer.load(model, backend="onnx", threads=1)  # from the rebuilt entry
        assert entry.stat().st_size > len(good) // 2
        image = tmp_path / "blank.png"
        if not image.exists():
            from PIL import Image

            Image.new("L", (64, 32), 255).save(image)
        expected = first.recognize(image)[0]
        assert healed.recognize(image)[0] == again.recognize(image)[0] == expected


def test_an_fp32_graph_shipped_beside_the_model_is_used_without_export(monkeypatch, tmp_path) -> None:
    """``NAME.onnx`` exported from exactly ``NAME.safetensors`` serves the fp32 path as shipped (no
    PyTorch export, no cache); one exported from another version of the file is ignored, with a warning."""
    import crnn_ctc.runtime as runtime
    from crnn_ctc.export import export_onnx

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = save_bundle(new_bundle("small", Charset.preset("lower-alnum"), seed=0), tmp_path / "m.safetensors")
    export_onnx(load_bundle(model), tmp_path / "m.onnx")

    def no_export(*args: object) -> bytes:
        raise AssertionError("exported although the shipped graph matches")

    monkeypatch.setattr(runtime, "_export_and_cache", no_export)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        shipped = Recognizer.load(model, backend="onnx", threads=1)
    assert shipped.engine.name == "onnx"
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    save_bundle(new_bundle("small", Charset.preset("lower-alnum"), seed=1), model)  # the file changes
    with pytest.warns(UserWarning, match="m.onnx was not exported from m.safetensors as it is now"):
        Recognizer.load(model, backend="onnx", threads=1)
