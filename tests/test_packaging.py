"""The package as others install it: the core dependencies cover inference (`make demo` installs only
them), every other import is declared in an extra and named when missing, and the wheel carries the
bundled model, its samples and the web page, so `pip install .` reads text outside the repository."""

from __future__ import annotations

import ast
import email.parser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType

import pytest

from crnn_ctc.extras import EXTRA_MODULES, MissingExtraError, require

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the train extra brings tomli
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "crnn_ctc"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))

# Import name -> distribution name, where they differ (otherwise the same, "_" read as "-").
DISTRIBUTIONS = {
    "PIL": "pillow",
    "skimage": "scikit-image",
    "yaml": "pyyaml",
    "fontTools": "fonttools",
    "google_crc32c": "google-crc32c",
    "fastapi_offline": "fastapi-offline",
    "prometheus_client": "prometheus-client",
}
# What inference is (the core's promise, pyproject.toml): these modules and whatever they import at load time.
INFERENCE_ENTRIES = ("api", "preprocess", "decode", "runtime", "runtime.onnx_engine", "bundle", "charset", "page",
                     "inputs", "cli", "cli.predict", "cli.read", "cli.info")  # fmt: skip
INFERENCE_PACKAGES = ("decode", "page")  # every module of these
# Imports inside functions of inference modules that belong to the PyTorch backend (--backend torch, or an
# fp32 graph missing from the export cache), which the ONNX path never calls (tests/test_lazy_imports.py).
TORCH_BACKEND_IMPORTS = {"torch"}


def distribution(module: str) -> str:
    return canonical(DISTRIBUTIONS.get(module, module))


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonical(re.split(r"[<>=!~;\s\[]", requirement, maxsplit=1)[0]) for requirement in requirements}


CORE = requirement_names(PYPROJECT["project"]["dependencies"])
EXTRAS = {extra: requirement_names(specs) for extra, specs in PYPROJECT["project"]["optional-dependencies"].items()}


def module_path(name: str) -> Path | None:
    """The file of ``crnn_ctc.NAME`` (a module or a package's ``__init__``), or None if there is none."""
    base = PACKAGE.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(name: str) -> tuple[set[str], set[str], set[str]]:
    """Of ``crnn_ctc.NAME``: (third-party modules imported at load time, those imported inside functions,
    modules of this package imported at load time). Imports under ``if TYPE_CHECKING`` do not run."""
    path = module_path(name)
    assert path is not None, name
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    at_load, in_functions, ours = set(), set(), set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for statement in child.orelse:
                    visit(statement, in_function)
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            found: set[str] = set()
            if isinstance(child, ast.Import):
                found = {alias.name for alias in child.names}
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found = {child.module}
            elif isinstance(child, ast.ImportFrom):  # relative: modules of this package
                parts = package.split(".") if package else []
                base = parts[: len(parts) - (child.level - 1)]
                target = ".".join([*base, *(child.module.split(".") if child.module else [])])
                if not in_function:
                    submodules = {f"{target}.{alias.name}".strip(".") for alias in child.names}
                    ours.update(sub for sub in submodules if module_path(sub))
                    if target and module_path(target):
                        ours.add(target)
            for module in found:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top in ("crnn_ctc", "__future__"):
                    if top == "crnn_ctc" and not in_function:
                        ours.add(module.removeprefix("crnn_ctc").strip("."))
                    continue
                (in_functions if inner else at_load).add(top)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return at_load, in_functions, ours


def inference_modules() -> set[str]:
    """The inference entries and every module of this package they import at load time."""
    names = [name for name in INFERENCE_ENTRIES if module_path(name)]  # cli.py or cli/, as the layout is now
    names += [
        f"{package}.{path.stem}"
        for package in INFERENCE_PACKAGES
        for path in (PACKAGE / package).glob("*.py")
        if path.stem != "__init__"
    ]
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        names.extend(imports(name)[2] - seen)
        parent = name.rpartition(".")[0]
        if parent:  # importing a submodule runs its package's __init__
            names.append(parent)
    return seen - {""}


def all_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__").removesuffix("__init__")
        for path in PACKAGE.rglob("*.py")
    )


def test_the_core_dependencies_cover_inference() -> None:
    modules = inference_modules()
    assert {"api", "runtime.onnx_engine", "page.binarize", "decode.lexicon", "bundle"} <= modules
    undeclared = {}
    for name in sorted(modules):
        at_load, in_functions, _ = imports(name)
        missing = {m for m in at_load if distribution(m) not in CORE}
        missing |= {m for m in in_functions - TORCH_BACKEND_IMPORTS if distribution(m) not in CORE}
        if missing:
            undeclared[name] = sorted(missing)
    assert not undeclared, f"imported by inference but not in pyproject.toml's core dependencies: {undeclared}"
    assert not {"torch", "fastapi", "uvicorn", "lmdb", "matplotlib", "tensorboard"} & CORE


def test_every_import_is_declared_and_every_extra_module_is_named_by_its_extra() -> None:
    declared_in = {name: "core" for name in CORE}
    for extra in ("train", "serve"):
        declared_in.update({name: extra for name in EXTRAS[extra] if name not in declared_in})
    undeclared = {}
    for name in all_modules():
        at_load, in_functions, _ = imports(name)
        for module in at_load | in_functions:
            where = declared_in.get(distribution(module))
            if where is None:
                undeclared[f"crnn_ctc.{name}"] = module
            elif where != "core":  # an extra: its error must say so (crnn_ctc.extras)
                assert module in EXTRA_MODULES[where], f"{module} ({where} extra) is missing from extras.EXTRA_MODULES"
    assert not undeclared, f"imported but declared nowhere in pyproject.toml: {undeclared}"
    for extra, modules in EXTRA_MODULES.items():
        assert {distribution(module) for module in modules} <= EXTRAS[extra], extra


def test_the_extras_build_on_each_other() -> None:
    assert EXTRAS["all"] == {"crnn-ctc"} and PYPROJECT["project"]["optional-dependencies"]["all"] == [
        "crnn-ctc[train,serve]"
    ]
    assert "crnn-ctc[all]" in PYPROJECT["project"]["optional-dependencies"]["test"]  # make install: everything
    assert not EXTRAS["train"] & EXTRAS["serve"]
    assert not CORE & (EXTRAS["train"] | EXTRAS["serve"])


def test_a_missing_extra_says_which_and_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "lmdb", None)  # an import of it now fails as if it were not installed
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'crnn-ctc[train]'")) as caught:
        require("lmdb", "train", "LMDB datasets")
    assert isinstance(caught.value, ImportError) and caught.value.name == "lmdb"
    assert "LMDB datasets" in str(caught.value) and "'lmdb'" in str(caught.value)
    monkeypatch.setitem(sys.modules, "not_one_of_ours", None)
    with pytest.raises(ModuleNotFoundError) as other:  # a module no extra brings: a broken install, as it is
        require("not_one_of_ours", "train", "nothing")
    assert not isinstance(other.value, MissingExtraError)


# `crnn COMMAND ...` in an interpreter where the modules named in argv[1] (comma-separated) are missing.
WITHOUT = """
import sys

for name in sys.argv[1].split(","):
    sys.modules[name] = None
from crnn_ctc.cli import main

sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("missing", "args", "extra"),
    [
        ("torch", ["train", "--train", "synth:", "--val", "synth:", "--model_dir", "{tmp}/m", "--max-steps", "1"],
         "train"),
        ("fastapi", ["serve", "--port", "0"], "serve"),
        ("lmdb", ["eval", "--data", "{tmp}/data.lmdb"], "train"),
        ("torch", ["predict", "--backend", "torch", "{samples}"], "train"),
    ],
    ids=["train-without-torch", "serve-without-fastapi", "eval-without-lmdb", "torch-backend-without-torch"],
)  # fmt: skip
def test_a_command_without_its_extra_exits_2_naming_the_extra(tmp_path, missing, args, extra) -> None:
    samples = str(PACKAGE / "assets" / "samples")
    args = [arg.replace("{tmp}", str(tmp_path)).replace("{samples}", samples) for arg in args]
    result = subprocess.run([sys.executable, "-c", WITHOUT, missing, *args], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"pip install 'crnn-ctc[{extra}]'" in result.stderr and "Traceback" not in result.stderr, result.stderr


def build_wheel(out: Path) -> Path:
    """Our wheel, built from a copy of the sources (a build folder left in the checkout would add stale files)."""
    source = out / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "src", source / "src", ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
               "--wheel-dir", str(out / "dist"), str(source)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (out / "dist").glob("crnn_ctc-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.mark.slow
def test_the_wheel_carries_the_model_the_samples_and_the_web_page(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename: info.file_size for info in archive.infolist()}
        metadata_name = next(name for name in members if name.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode("utf-8"))
    shipped = [
        *(PACKAGE / "assets").glob("*.safetensors"), *(PACKAGE / "assets").glob("*.onnx"),
        *(PACKAGE / "assets" / "samples").iterdir(), *(PACKAGE / "serve" / "static").iterdir(), PACKAGE / "py.typed",
    ]  # fmt: skip
    assert len([path for path in shipped if path.suffix == ".png"]) >= 8
    for path in shipped:
        member = path.relative_to(PACKAGE.parent).as_posix()
        assert members.get(member) == path.stat().st_size, f"{member} missing from the wheel, or not the same size"
    sources = {path.relative_to(PACKAGE.parent).as_posix() for path in PACKAGE.rglob("*.py")}
    assert {name for name in members if name.endswith(".py")} == sources  # every module, and nothing stale
    requires = metadata.get_all("Requires-Dist") or []
    core = {canonical(re.split(r"[<>=!~;\s\[]", r, maxsplit=1)[0]) for r in requires if "extra ==" not in r}
    assert core == CORE and "torch" not in core
    assert set(metadata.get_all("Provides-Extra") or []) >= {"train", "serve", "all", "test"}


# Recognize the samples inside the installed wheel, from outside the repository, without PyTorch.
FROM_THE_WHEEL = """
import sys
from pathlib import Path

sys.modules["torch"] = None  # the ONNX path must not need it
import crnn_ctc
from crnn_ctc.cli import main

assert Path(crnn_ctc.__file__).is_relative_to(Path(sys.argv[1]).resolve()), crnn_ctc.__file__
sys.exit(main(["predict", str(Path(crnn_ctc.__file__).parent / "assets" / "samples")]))
"""


@pytest.mark.slow
def test_the_installed_wheel_reads_its_samples_outside_the_repository(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target),
               str(wheel)]  # fmt: skip
    subprocess.run(install, check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", FROM_THE_WHEEL, str(target)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    samples = REPO / "src" / "crnn_ctc" / "assets" / "samples"
    labels = dict(line.split("\t", 1) for line in (samples / "labels.tsv").read_text().splitlines() if line)
    read = {Path(row.split("\t")[0]).name: row.split("\t")[1] for row in result.stdout.splitlines()}
    assert read == labels


def load_script(name: str) -> ModuleType:
    spec = spec_from_file_location(f"gpu_{name}", REPO / "scripts" / "gpu" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_gpu_bundle_installs_the_train_extra_and_not_the_service() -> None:
    make_bundle, install_bundle = load_script("make_bundle"), load_script("install_bundle")
    assert len(make_bundle.training_requirements()) == len(make_bundle.TRAINING_DEPENDENCIES)  # core + train
    requires = ["numpy>=1.24", 'lmdb>=1.4; extra == "train"', 'fastapi>=0.110; extra == "serve"']
    root = install_bundle.Wheel(Path("crnn_ctc.whl"), "crnn-ctc", "0.1.0", requires)
    lmdb = install_bundle.Wheel(Path("lmdb.whl"), "lmdb", "1.5.0", [])
    plan = install_bundle.plan_install([root, lmdb], {"numpy": "2.0.0"}.get)
    assert [wheel.name for wheel in plan.install] == ["crnn-ctc", "lmdb"]
    assert plan.present == {"numpy": "2.0.0"} and not plan.absent
