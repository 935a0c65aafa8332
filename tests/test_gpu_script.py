"""scripts/gpu: the bundle's wheel selection and repacking, the font subset, the shard weights, and the
whole pipeline as a CPU dry run from a bundle without wheels (the GPU run itself is not tested here)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from crnn_ctc.bundle import load_bundle
from crnn_ctc.synth.fonts import FontCheck, FontFace, SelectedFont

REPO = Path(__file__).resolve().parents[1]
GPU = REPO / "scripts" / "gpu"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"gpu_{name}", GPU / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


install_bundle = load_script("install_bundle")
make_bundle = load_script("make_bundle")
gpu_train = load_script("gpu_train")


def write_wheel(folder: Path, name: str, version: str, requires: list[str], files: dict | None = None) -> Path:
    """A minimal pure-Python wheel, as pip builds them."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {f"{module}/__init__.py": f"VERSION = {version!r}\n", **(files or {})}
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {requirement}\n" for requirement in requires
    )
    files[f"{dist_info}/METADATA"] = metadata
    files[f"{dist_info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{dist_info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist_info}/RECORD"])
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def test_install_plan_takes_what_is_missing_or_too_old_and_leaves_the_rest(tmp_path: Path) -> None:
    requires = ["torch>=2.1", "numpy>=1.24", "matplotlib>=3.7", "wordfreq>=3.0", "tomli>=2.0; python_version < '3.11'"]
    wheels = [
        install_bundle.read_wheel(write_wheel(tmp_path, "crnn-ctc", "0.1.0", requires)),
        install_bundle.read_wheel(write_wheel(tmp_path, "numpy", "2.5.0", [])),
        install_bundle.read_wheel(write_wheel(tmp_path, "matplotlib", "3.11.0", ["numpy>=1.23", "pyparsing>=3"])),
        install_bundle.read_wheel(write_wheel(tmp_path, "pyparsing", "3.3.0", [])),
        install_bundle.read_wheel(write_wheel(tmp_path, "tomli", "2.2.0", [])),
    ]
    here = {"torch": "2.11.0", "numpy": "1.22.0", "pyparsing": "3.1.0"}
    environment = {**install_bundle.default_environment(), "python_version": "3.12", "python_full_version": "3.12.3"}
    plan = install_bundle.plan_install(wheels, here.get, environment)
    assert [wheel.name for wheel in plan.install] == ["crnn-ctc", "numpy", "matplotlib"]  # numpy 1.22 is too old
    assert plan.present == {"torch": "2.11.0", "pyparsing": "3.1.0"}
    assert list(plan.absent) == ["wordfreq"]  # reported, not fatal; tomli's marker is false on 3.12


def test_a_repacked_wheel_installs_with_pip_and_leaves_out_what_was_excluded(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "demo-pkg", "1.0", [], {"demo_pkg/assets/big.bin": "x" * 10_000})
    make_bundle.repack_wheel(wheel, make_bundle.re.compile(r"^demo_pkg/assets/"))
    with zipfile.ZipFile(wheel) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_LZMA}
        assert "demo_pkg/assets/big.bin" not in archive.namelist()
        assert "assets" not in archive.read("demo_pkg-1.0.dist-info/RECORD").decode()
    target = tmp_path / "site"
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--disable-pip-version-check",
               "--target", str(target), str(wheel)]  # fmt: skip
    subprocess.run(command, check=True)
    assert (target / "demo_pkg" / "__init__.py").read_text() == "VERSION = '1.0'\n"


def fake_font(folder: Path, category: str, family: str, style: str, size: int) -> SelectedFont:
    path = folder / f"{family}-{style}.ttf".replace(" ", "")
    path.write_bytes(b"\0" * size)
    check = FontCheck(frozenset("ab"), frozenset("ab"), {})
    return SelectedFont(FontFace(str(path), family, style, category), check, frozenset("ab"))


def test_font_subset_takes_whole_families_in_turn_from_each_category_within_the_budget(tmp_path: Path) -> None:
    fonts = [
        fake_font(tmp_path, category, f"{category} {number}", style, 1000)
        for category in ("serif", "sans-serif", "monospace")
        for number in range(5)
        for style in ("Italic", "Regular", "Bold", "Light")
    ]
    fonts.append(fake_font(tmp_path, "serif", "Huge", "Regular", 50_000))
    chosen = make_bundle.choose_fonts(fonts, budget=12_000, faces_per_family=2, max_face_bytes=10_000,
                                      families_per_category=None)  # fmt: skip
    assert sum(os.path.getsize(font.face.path) for font in chosen) <= 12_000
    families = {(font.face.category, font.face.family) for font in chosen}
    assert len(families) == 6 and {category for category, _ in families} == {"serif", "sans-serif", "monospace"}
    assert {font.face.style for font in chosen} == {"Regular", "Bold"}  # the two first styles of each family
    capped = make_bundle.choose_fonts(fonts, 10**9, 1, 10**9, families_per_category=1)
    assert len(capped) == 3


def test_shard_weights_keep_each_presets_share_whatever_was_rendered(tmp_path: Path) -> None:
    shards = [
        gpu_train.Shard("scene-words-1", "scene-words", 100, 1.0, tmp_path / "a"),
        gpu_train.Shard("scene-words-2", "scene-words", 300, 1.0, tmp_path / "b"),
        gpu_train.Shard("document", "document", 50, 1.0, tmp_path / "c"),
    ]  # no scene-lines shard: its share goes to the others
    weights = [float(source.rsplit("@", 1)[1]) for source in gpu_train.Pipeline.train_sources(shards)]
    assert weights == pytest.approx([0.55 / 0.92 * 0.25, 0.55 / 0.92 * 0.75, 0.37 / 0.92], rel=1e-5)


def test_the_gpu_mix_is_the_bundled_recipes() -> None:
    """The one-command GPU run trains on what scripts/train_pretrained.sh trains on: same presets, same
    shares, same settings files (the bundle carries them)."""
    recipe = (REPO / "scripts" / "train_pretrained.sh").read_text(encoding="utf-8")
    sources = re.findall(r'"synth:(preset|config)=([^,"]+),split=train@([0-9.]+)"', recipe)
    assert len(sources) == len(gpu_train.MIX) and sum(gpu_train.MIX.values()) == pytest.approx(1.0)
    for kind, name, share in sources:
        if kind == "config":
            path = REPO / name
            assert path.parent == make_bundle.SETTINGS
            preset = json.loads(path.read_text(encoding="utf-8"))["preset"]
            assert gpu_train.SETTINGS_FILES[preset] == path.name
            name = preset
        assert gpu_train.MIX[name] == pytest.approx(float(share))


# Packages the bundle leaves out (make_bundle.LEFT_OUT) by the names they are imported as; tensorboard is
# optional by design (imported when present), so it is not listed.
LEFT_OUT_IMPORTS = ("wordfreq", "skimage", "yaml", "google_crc32c", "onnx", "onnxruntime", "fastapi", "uvicorn",
                    "httptools", "uvloop", "multipart", "prometheus_client")  # fmt: skip
RECORD_IMPORTS = """\
import atexit, os, sys
def _record():
    names = sorted({name.split(".")[0] for name in sys.modules})
    with open(os.path.join(os.environ["CRNN_TEST_IMPORTS"], f"{os.getpid()}.txt"), "w") as file:
        file.write("\\n".join(names))
atexit.register(_record)
"""


@pytest.mark.slow
def test_cpu_dry_run_from_a_wheel_less_bundle_writes_model_log_and_summary(tmp_path: Path) -> None:
    """The whole pipeline (fonts, render, probe, train, outputs) on the CPU at toy sizes, with the
    crnn_ctc of this environment (--no-wheels): the wheel install and the GPU are not covered."""
    from crnn_ctc.synth.fonts import FontError, find_fonts, text_layout

    try:
        find_fonts()
    except FontError as error:
        pytest.skip(f"no fonts here: {error}")
    bundle, out, imports = tmp_path / "bundle", tmp_path / "out", tmp_path / "imports"
    imports.mkdir()
    (imports / "sitecustomize.py").write_text(RECORD_IMPORTS)
    threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(GPU / "make_bundle.py"), "--out", str(bundle), "--no-wheels", "--font-mb", "1",
                    "--families-per-category", "2", "--heldout-families", "2", "--vocabulary", "2000"],
                   check=True, env={**os.environ, **threads})  # fmt: skip
    info = json.loads((bundle / "bundle.json").read_text())
    assert info["fonts"]["faces"] > 0 and info["words"] == 2000
    env = {**os.environ, **threads, "PYTHON": sys.executable, "PYTHONPATH": str(imports),
           "CRNN_TEST_IMPORTS": str(imports)}  # fmt: skip
    result = subprocess.run(["bash", str(bundle / "train.sh"), str(bundle), str(out), "--device", "cpu", "--dry-run",
                             "--no-wheels", "--work", str(tmp_path / "work")],
                            env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    model = load_bundle(out / "model.safetensors")
    assert len(model.charset.symbols) == 95 and 1 <= model.provenance["trained_steps"] <= 4
    log = (out / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,") and len(log) > 1
    for name in ("config.json", "curves.png", "samples.png", "run.log"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train"]["steps"] == 4 and summary["train"]["samples_per_s_median"] > 0
    assert summary["render"]["images"] == 64 and summary["validation"]["font_split"] == "heldout"
    assert "gpu-train: summary:" in (out / "run.log").read_text()
    # Text is laid out as where the bundle was made: it carries this machine's libfribidi, if any.
    assert summary["text_layout"] == text_layout()
    carried = (bundle / "lib" / "libfribidi.so.0").is_file()
    assert carried == (info["libfribidi"] is not None) and carried == (text_layout() == "raqm")
    imported = set()
    for record in imports.glob("*.txt"):
        imported |= set(record.read_text().split())
    assert "crnn_ctc" in imported and "torch" in imported
    assert not imported & set(LEFT_OUT_IMPORTS), "the bundle leaves these out, yet training or rendering imports them"
    assert np.isfinite([float(row.split(",")[2]) for row in log[1:] if row.split(",")[2]]).all()


def test_the_time_limit_stops_a_command_with_sigterm_then_kills_it_if_it_lingers(monkeypatch) -> None:
    polite = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(3)); time.sleep(60)"
    assert gpu_train.run_limited([sys.executable, "-c", polite], dict(os.environ), 1.0, say=lambda m: None) == (3, True)
    monkeypatch.setattr(gpu_train, "STOP_GRACE_S", 0.5)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    code, stopped = gpu_train.run_limited([sys.executable, "-c", stubborn], dict(os.environ), 1.0, say=lambda m: None)
    assert (code, stopped) == (-9, True)
    quick = gpu_train.run_limited([sys.executable, "-c", "pass"], dict(os.environ), 10.0, say=lambda m: None)
    assert quick == (0, False)
