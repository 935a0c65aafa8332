"""Packs what one-command GPU training needs on a machine that has Python 3.12 and PyTorch, no network,
and nothing else of ours (docs/gpu_training.md): our wheel, the wheels that training and rendering
need (torch excepted), a subset of the fonts with its manifest, the word list and background photos,
and the scripts that use them. Run here (make gpu-bundle); then carry the folder to the GPU machine.

Usage: .venv/bin/python scripts/gpu/make_bundle.py --out .gpu-bundle [--font-mb 9] [--no-wheels]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CHARSET = "printable+space"
# Whatever crnn synth and crnn train import on the way to a model, log and curves (their closure comes too).
TRAINING_DEPENDENCIES = ("numpy", "pillow", "safetensors", "tqdm", "lmdb", "rapidfuzz", "fonttools", "matplotlib")
LEFT_OUT = {
    "torch": "the GPU machine's own CUDA build is used",
    "wordfreq": "its wheel holds 40 languages (tens of MB); words.txt.xz holds the English list it gives",
    "scikit-image": "only its sample photos are read (re-encoded into natural/); with scipy it would not fit",
    "tensorboard": "optional: training writes log.csv and curves.png without it",
    "pyyaml": "only for YAML --config files; the script passes flags",
    "google-crc32c": "only for TFRecord datasets",
    "onnx": "export and inference only", "onnxruntime": "export and inference only",
    "fastapi": "serving only", "fastapi-offline": "serving only", "uvicorn": "serving only",
    "httptools": "serving only", "uvloop": "serving only", "python-multipart": "serving only",
    "prometheus-client": "serving only", "tomli": "Python < 3.11 only",
}  # fmt: skip
# Every manylinux tag of those that the brief names: pip matches each N exactly.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# The package's own wheel leaves out its assets (the pretrained model, its int8 graph, sample images:
# 10 MB that training does not read). To fine-tune from that model, --init-from bundled finds it in the
# checkout, which the device tool carries anyway.
WHEEL_EXCLUDE = re.compile(r"^crnn_ctc/assets/")
SCRIPTS = ("train.sh", "gpu_train.py", "install_bundle.py")
SETTINGS = HERE.parent / "synth_settings"  # the generator settings files of the local recipe, used as they are
STYLE_ORDER = ("Regular", "Bold", "Italic", "Bold Italic", "Medium", "Light")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def training_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The dependencies of pyproject.toml that training and rendering need, with their version bounds: the
    core (inference) and the ``train`` extra."""
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["train"]]
    by_name = {canonical(re.split(r"[<>=!~;\s\[]", spec, maxsplit=1)[0]): spec for spec in declared}
    missing = [name for name in TRAINING_DEPENDENCIES if name not in by_name]
    if missing:
        raise SystemExit(f"make_bundle: {', '.join(missing)} no longer in pyproject.toml's dependencies or its "
                         "train extra; update TRAINING_DEPENDENCIES")  # fmt: skip
    return [by_name[name] for name in TRAINING_DEPENDENCIES]


# -- wheels ---------------------------------------------------------------------------------------
def build_wheels(wheels: Path, python: str) -> None:
    wheels.mkdir(parents=True)
    pip = [python, "-m", "pip", "--disable-pip-version-check"]
    # setuptools builds in the checkout's build/ and packs whatever build/lib holds: a module deleted
    # since the last build would travel in the wheel. The folder is only its scratch space.
    shutil.rmtree(REPO / "build", ignore_errors=True)
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "--wheel-dir", str(wheels), str(REPO)], check=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run([*pip, "download", "-q", "--only-binary=:all:", "--python-version", "3.12", "--implementation",
                    "cp", *platforms, "--dest", str(wheels), *training_requirements()], check=True)  # fmt: skip
    for wheel in sorted(wheels.glob("*.whl")):
        repack_wheel(wheel, WHEEL_EXCLUDE if wheel.name.startswith("crnn_ctc-") else None)


def repack_wheel(path: Path, exclude: re.Pattern[str] | None = None) -> None:
    """Rewrite a wheel with LZMA instead of deflate (a quarter smaller; pip's zipfile reads it), without
    the members ``exclude`` matches (their RECORD lines go too, so the wheel stays consistent)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_LZMA) as target:
        for info in source.infolist():
            if exclude and exclude.match(info.filename):
                continue
            data = source.read(info)
            if exclude and info.filename.endswith(".dist-info/RECORD"):
                lines = data.decode("utf-8").splitlines(keepends=True)
                data = "".join(line for line in lines if not exclude.match(line.split(",", 1)[0])).encode("utf-8")
            target.writestr(info, data, compress_type=zipfile.ZIP_LZMA)
    path.write_bytes(buffer.getvalue())


# -- fonts ----------------------------------------------------------------------------------------
def _order(name: str) -> str:
    """A fixed pseudo-random order of families (so a subset is a spread, not the alphabet's start)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def choose_fonts(fonts: Sequence, budget: int, faces_per_family: int, max_face_bytes: int,
                 families_per_category: int | None) -> list:  # fmt: skip
    """Whole families, taken in turn from each category until ``budget`` bytes: the generator picks a
    category by its weight and then a family uniformly, so families per category count, not faces."""
    families: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for font in fonts:
        if os.path.getsize(font.face.path) <= max_face_bytes:
            families[font.face.category][font.face.family].append(font)
    queues = {
        category: sorted(members.items(), key=lambda item: _order(item[0]))
        for category, members in sorted(families.items())
    }
    chosen: list = []
    used, taken = 0, dict.fromkeys(queues, 0)
    while any(queues.values()):
        for category, queue in queues.items():
            if not queue or (families_per_category is not None and taken[category] >= families_per_category):
                queue.clear()
                continue
            _, faces = queue.pop(0)
            faces = sorted(faces, key=lambda f: (STYLE_ORDER.index(f.face.style) if f.face.style in STYLE_ORDER
                                                 else len(STYLE_ORDER), f.face.path))[:faces_per_family]  # fmt: skip
            size = sum(os.path.getsize(f.face.path) for f in faces)
            if used + size > budget:
                continue
            chosen.extend(faces)
            used += size
            taken[category] += 1
    return chosen


def copy_fonts(fonts: Sequence, folder: Path, manifest: Path | None) -> int:
    """Copy the fonts into ``folder`` and write ``folder/manifest.tsv`` (paths relative to ``folder``)
    with the columns of the source manifest; returns the bytes copied."""
    folder.mkdir(parents=True)
    original: dict[str, dict[str, str]] = {}
    if manifest is not None and manifest.is_file():
        with manifest.open(encoding="utf-8", newline="") as file:
            original = {row["path"]: row for row in csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE)}
    columns = ["path", "family", "style", "category", "source", "licence"]
    if original:
        columns = list(next(iter(original.values())))
    rows, total = [], 0
    for number, font in enumerate(fonts):
        face = font.face
        relative = f"{face.category}/{number:04d}-{Path(face.path).name}"
        (folder / face.category).mkdir(exist_ok=True)
        shutil.copyfile(face.path, folder / relative)
        total += os.path.getsize(face.path)
        row = dict(original.get(face.path) or {"family": face.family, "style": face.style, "category": face.category,
                                               "source": face.source, "licence": face.licence})  # fmt: skip
        rows.append({**{column: row.get(column, "") for column in columns}, "path": relative})
    write_manifest(folder / "manifest.tsv", columns, rows)
    return total


def write_manifest(path: Path, columns: Sequence[str], rows: Sequence[dict[str, str]]) -> None:
    """Tab-separated, unquoted, as scripts/font_manifest.py writes it (and synth.fonts reads it)."""
    lines = ["\t".join(columns)] + ["\t".join(str(row.get(c, "")).replace("\t", " ") for c in columns) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- words and photographs ------------------------------------------------------------------------
def write_words(path: Path, vocabulary: int) -> int:
    """wordfreq's English list as the generator reads it by default: word TAB frequency, most frequent first."""
    from crnn_ctc.synth.text import load_words

    words = load_words(None, vocabulary, power=1.0)  # power 1: the weights are the frequencies themselves
    previous, lines = 0.0, []
    for word, cumulative in zip(words.words, words.cumulative, strict=True):
        lines.append(f"{word}\t{cumulative - previous:.6g}\n")
        previous = cumulative
    with lzma.open(path, "wt", encoding="utf-8", preset=9) as file:
        file.writelines(lines)
    return len(lines)


def write_photographs(folder: Path, quality: int = 90) -> int:
    """The background photographs, re-encoded as JPEG under their own names (Pillow reads by content):
    a fifth of the bytes, for crops that are scaled, blurred and faded anyway."""
    from PIL import Image

    from crnn_ctc.synth.backgrounds import NATURAL_IMAGES, natural_image_dir

    source = natural_image_dir()
    if source is None:
        return 0
    folder.mkdir(parents=True)
    written = 0
    for name in NATURAL_IMAGES:
        with contextlib.suppress(OSError), Image.open(source / name) as image:
            image.convert("RGB").save(folder / name, format="JPEG", quality=quality)
            written += 1
    return written


# -- the bundle -----------------------------------------------------------------------------------
def copy_fribidi(folder: Path) -> str | None:
    """This machine's libfribidi, where Pillow loaded it (None: not here): with it on LD_LIBRARY_PATH the
    GPU machine lays text out with HarfBuzz as here (synth/fonts.py, text_layout), whatever it has."""
    from PIL import features

    if not features.check_feature("fribidi"):  # loads it, so it is in this process's maps
        return None
    maps = Path("/proc/self/maps")
    lines = maps.read_text().splitlines() if maps.exists() else []
    paths = {line.split()[-1] for line in lines if "libfribidi" in line}
    if not paths:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sorted(paths)[0], folder / "libfribidi.so.0")  # the name Pillow's shim opens (LGPL-2.1)
    return Path(sorted(paths)[0]).name


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+uncommitted changes" if dirty else "")


def make_bundle(args: argparse.Namespace) -> dict[str, Any]:
    from crnn_ctc import __version__
    from crnn_ctc.charset import Charset
    from crnn_ctc.synth.fonts import FontWarning, default_font_manifest, find_fonts, font_split, select_fonts

    out = Path(args.out)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        if not args.no_wheels:
            build_wheels(partial / "wheels", args.python)
        manifest = Path(args.fonts) if args.fonts else default_font_manifest()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FontWarning)  # fonts that draw too little are simply not taken
            usable = select_fonts(find_fonts(manifest), Charset.resolve(CHARSET), workers=os.cpu_count() or 1)
        budget = int(args.font_mb * 1e6)
        heldout = choose_fonts(font_split(usable, "heldout"), budget // 8, 1, args.max_font_kb * 1000,
                               max(1, args.heldout_families // 5))  # fmt: skip
        heldout = heldout[: args.heldout_families]
        train = choose_fonts(font_split(usable, "train"), budget - sum(os.path.getsize(f.face.path) for f in heldout),
                             args.faces_per_family, args.max_font_kb * 1000, args.families_per_category)  # fmt: skip
        fonts_dir = partial / "fonts"
        source_manifest = manifest if manifest and manifest.suffix == ".tsv" else None
        font_bytes = copy_fonts([*train, *heldout], fonts_dir, source_manifest)
        with tarfile.open(partial / "fonts.tar.xz", "w:xz", preset=9) as archive:  # TrueType halves under xz
            archive.add(fonts_dir, arcname="fonts")
        shutil.rmtree(fonts_dir)
        words = write_words(partial / "words.txt.xz", args.vocabulary)
        photographs = write_photographs(partial / "natural")
        fribidi = copy_fribidi(partial / "lib")
        for name in SCRIPTS:
            shutil.copy2(HERE / name, partial / name)
        (partial / "synth_settings").mkdir()
        for settings in SETTINGS.glob("*.json"):
            shutil.copy2(settings, partial / "synth_settings" / settings.name)

        def families(fonts: Sequence) -> dict[str, int]:
            counts: dict[str, set[str]] = defaultdict(set)
            for font in fonts:
                counts[font.face.category].add(font.face.family)
            return {category: len(names) for category, names in sorted(counts.items())}

        wheels = sorted((partial / "wheels").glob("*.whl")) if not args.no_wheels else []
        info: dict[str, Any] = {
            "crnn_ctc": __version__, "commit": git_commit(), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "charset": CHARSET, "python": "3.12", "platforms": list(PLATFORMS),
            "wheels": {wheel.name: wheel.stat().st_size for wheel in wheels},
            "left_out": LEFT_OUT if wheels else "no wheels (--no-wheels): the machine's installed crnn_ctc is used",
            "fonts": {"faces": len(train) + len(heldout), "train_families": families(train),
                      "heldout_families": families(heldout), "bytes": font_bytes,
                      "packed_bytes": (partial / "fonts.tar.xz").stat().st_size,
                      "source": str(manifest or "default"), "usable_faces_here": len(usable)},
            "words": words, "photographs": photographs, "libfribidi": fribidi,
        }  # fmt: skip
        info["bytes"] = folder_bytes(partial) + 4096  # and this file
        (partial / "bundle.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        report(args.out, info)
        if info["bytes"] / 2**20 > args.max_mb:
            raise SystemExit(f"make_bundle: error: {info['bytes'] / 2**20:.1f} MiB is over --max-mb {args.max_mb:g} "
                             "(the device tool carries 64 MiB with the working tree): lower --font-mb")  # fmt: skip
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return info


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=".gpu-bundle", help="bundle folder (default: %(default)s, git-ignored)")
    parser.add_argument(
        "--font-mb",
        type=float,
        default=20.0,
        help="bytes of font files, in MB, before xz halves them (default: %(default)s)",
    )
    parser.add_argument("--max-font-kb", type=int, default=400, help="leave out font files larger than this")
    parser.add_argument("--faces-per-family", type=int, default=2, help="(default: %(default)s)")
    parser.add_argument("--families-per-category", type=int, help="cap per category (default: the budget decides)")
    parser.add_argument(
        "--heldout-families",
        type=int,
        default=15,
        help="held-out families, for the validation set of unseen fonts (default: %(default)s)",
    )
    parser.add_argument("--vocabulary", type=int, default=100_000, help="words in the list (default: %(default)s)")
    parser.add_argument("--fonts", help="font manifest .tsv or folder (default: what `make fonts` installed)")
    parser.add_argument(
        "--no-wheels",
        action="store_true",
        help="no wheels: train.sh --no-wheels then uses the crnn_ctc installed where it runs",
    )
    parser.add_argument("--max-mb", type=float, default=45.0, help="fail above this size, in MiB (default: 45)")
    parser.add_argument("--python", default=sys.executable, help="the Python whose pip builds and downloads")
    args = parser.parse_args(argv)
    make_bundle(args)
    return 0


def report(out: str, info: dict[str, Any]) -> None:
    fonts = info["fonts"]
    wheels = sum(info["wheels"].values()) / 2**20
    print(f"make_bundle: {out}: {info['bytes'] / 2**20:.1f} MiB: {len(info['wheels'])} wheels ({wheels:.1f} MiB), "
          f"{fonts['faces']} fonts ({fonts['bytes'] / 2**20:.1f} MiB, {fonts['packed_bytes'] / 2**20:.1f} packed; "
          f"train families {fonts['train_families']}, held-out {fonts['heldout_families']}), "
          f"{info['words']:,} words, {info['photographs']} photographs")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
