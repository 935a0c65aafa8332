"""Which fonts to draw with, and which characters each one really draws.

A font's character map says what it claims; FreeType's rendering says what it does. A character
counts as drawable only when both agree: it is in the cmap, its glyph has ink (space excepted), it
is not the font's missing-glyph box, and, where the charset tells cases apart, it is not drawn
like its other case (all-caps fonts draw "a" as "A"). The check costs a few milliseconds per font,
so results are cached on disk, keyed by the font file's hash.

The default font set is ``.fonts/manifest.tsv`` (written by ``make fonts``); ``--fonts DIR`` scans
a folder instead. Unreadable font files are skipped with a ``FontWarning`` naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import multiprocessing
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from ..charset import Charset
from ..errors import ConfigError, CrnnError
from ..extras import extra_imports
from ..files import cache_dir

FONT_SUFFIXES = (".ttf", ".otf", ".woff", ".woff2")
CHECK_VERSION = 3  # bump when the drawability rules change: old cache entries are then ignored
_CHECK_SIZE = 48  # pixels per em for the rendering check
# A font must draw at least this share of the charset to be worth sampling.
MIN_SHARE = 0.5
MIN_STROKE = 0.03  # em: Thin and Hairline weights measure about 0.02, ExtraLight 0.04, Regular 0.08
_CAPS_OVERLAP = 0.8
_SMALL_CAPS_NAME = re.compile(r"\bSC\b|small ?caps", re.IGNORECASE)
_REPO_FONTS = Path(__file__).resolve().parents[3] / ".fonts"


class FontError(CrnnError):
    """No usable font: none found, or none draws enough of the charset."""


class FontWarning(UserWarning):
    """A font file was skipped (unreadable, or draws too little of the charset)."""


class LayoutWarning(UserWarning):
    """Text is laid out without HarfBuzz here, so synthetic images differ from other machines'."""


def text_layout() -> str:
    """How text is laid out: ``"raqm"`` (HarfBuzz shaping: kerning from GPOS, ligatures, a script
    font's joined letters) or ``"basic"`` (FreeType alone: old-style kerning only).

    Pillow's wheels build Raqm in but load libfribidi from the system when the process starts, so
    the same code, seed and fonts draw other images (43% of 600 default words came out at another width)
    on a machine without libfribidi. Every synthetic image is drawn with this one engine, named
    explicitly, and the choice is recorded where images are written or trained on.
    """
    return "raqm" if features.check_feature("raqm") else "basic"


def drawing_libraries() -> dict[str, str | None]:
    """Versions of what draws the images (Pillow and the FreeType, HarfBuzz and Raqm inside it, NumPy):
    another version may draw the same seed slightly differently, so they are kept with the images."""
    import numpy
    import PIL

    versions: dict[str, str | None] = {"pillow": PIL.__version__, "numpy": numpy.__version__}
    for name in ("freetype2", "harfbuzz", "raqm", "fribidi"):
        versions[name] = features.version(name)
    return versions


_LAYOUT_ENGINES = {"raqm": ImageFont.Layout.RAQM, "basic": ImageFont.Layout.BASIC}
_layout_warned = False


def warn_if_basic_layout() -> None:
    """Say, once per process, that this machine lays text out without HarfBuzz, and what to install."""
    global _layout_warned
    if text_layout() == "basic" and not _layout_warned:
        _layout_warned = True
        warnings.warn(
            "libfribidi was not found, so Pillow lays text out without HarfBuzz (no GPOS kerning, "
            "ligatures or joined script letters): synthetic images differ from those the bundled model "
            "was trained on and from other machines' with the same seed. Install it (Debian/Ubuntu: "
            "apt-get install libfribidi0; macOS: brew install fribidi) and run again.",
            LayoutWarning, stacklevel=3,
        )  # fmt: skip


@dataclass(frozen=True)
class FontFace:
    """One font file and what is known of it (from the manifest, or from the file name)."""

    path: str
    family: str
    style: str = "Regular"
    category: str = "sans-serif"
    source: str = "local"
    licence: str = ""


@dataclass(frozen=True)
class FontCheck:
    """What one font draws, in em units: drawable characters, their advances, and line metrics."""

    drawable: frozenset[str]
    case_distinct: frozenset[str]  # drawable letters that look unlike their other case
    advances: dict[str, float] = field(hash=False, compare=False)
    ascent: float = 0.8
    descent: float = 0.2
    stroke: float = 0.1  # typical stem thickness, in em (hairline fonts vanish at 32 pixels)


@dataclass(frozen=True)
class SelectedFont:
    """A font kept for a charset, with the characters it may draw for that charset."""

    face: FontFace
    check: FontCheck
    allowed: frozenset[str]  # characters this font may render (labels fold case where the charset does)


def default_font_manifest() -> Path | None:
    """``$CRNN_FONTS_MANIFEST``, else the checkout's ``.fonts/manifest.tsv`` if ``make fonts`` wrote it."""
    configured = os.environ.get("CRNN_FONTS_MANIFEST")
    if configured:
        return Path(configured)
    manifest = _REPO_FONTS / "manifest.tsv"
    return manifest if manifest.is_file() else None


def read_manifest(path: str | Path) -> list[FontFace]:
    """Faces listed in a manifest written by ``scripts/font_manifest.py`` (paths must exist)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as error:
        raise FontError(f"{path}: cannot read font manifest: {error}. Run `make fonts` to write it") from error
    faces = []
    for line, row in enumerate(rows, start=2):
        if not row.get("path"):
            raise FontError(f"{path}:{line}: no 'path' column; regenerate it with `make fonts`")
        if Path(row["path"]).is_file():
            faces.append(
                FontFace(row["path"], row.get("family") or Path(row["path"]).stem, row.get("style") or "Regular",
                         row.get("category") or "sans-serif", row.get("source") or "local", row.get("licence") or "")
            )  # fmt: skip
    return faces


def scan_font_dir(folder: str | Path) -> list[FontFace]:
    """Every font file under ``folder`` (recursively), in a stable order; category guessed from the name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FontError(f"{folder}: no such font folder")
    faces = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file()):
        name = path.stem.lower()
        category = (
            "monospace" if "mono" in name else "serif" if "serif" in name and "sans" not in name else "sans-serif"
        )
        faces.append(FontFace(str(path), path.stem, category=category, source=str(folder)))
    return faces


def find_fonts(fonts: str | Path | None = None) -> list[FontFace]:
    """Faces from ``fonts`` (a folder or a manifest ``.tsv``), else the default manifest, else /usr/share/fonts."""
    if fonts is not None:
        fonts = Path(fonts)
        faces = read_manifest(fonts) if fonts.suffix == ".tsv" else scan_font_dir(fonts)
    else:
        manifest = default_font_manifest()
        faces = read_manifest(manifest) if manifest else []
        if not faces and Path("/usr/share/fonts").is_dir():
            faces = scan_font_dir("/usr/share/fonts")
    if not faces:
        where = fonts or "the default manifest (.fonts/manifest.tsv) or /usr/share/fonts"
        raise FontError(f"no font files found in {where}; run `make fonts`, or pass --fonts DIR")
    return faces


# -- the check ------------------------------------------------------------------------------------
def _file_hash(path: str) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    return cache_dir(f"font-check-v{CHECK_VERSION}")


def check_font(path: str, chars: Iterable[str]) -> FontCheck:
    """Render every character of ``chars`` with the font at ``path``; raise ``OSError`` if unreadable."""
    with extra_imports("train", "checking fonts for synthetic data"):
        from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # odd timestamps and padding are harmless
    try:
        with TTFont(path, lazy=True, fontNumber=0) as tt:
            cmap = tt.getBestCmap() or {}
            units = tt["head"].unitsPerEm or 1000
            hhea = tt["hhea"]
            ascent, descent = hhea.ascent / units, -hhea.descent / units
            names = tt["name"]
            family = str(names.getDebugName(16) or names.getDebugName(1) or "")
    except Exception as error:  # a damaged file can fail anywhere in fontTools' parsers
        raise OSError(f"fontTools cannot read it ({type(error).__name__}: {error})") from error
    font = ImageFont.truetype(path, _CHECK_SIZE)
    missing = _bitmap(font, chr(0x10FFFD))  # glyph 0: the font's box for what it lacks
    drawable, advances = set(), {}
    bitmaps: dict[str, tuple[tuple[int, int], bytes]] = {}
    for char in chars:
        if ord(char) not in cmap:
            continue
        bitmap = _bitmap(font, char)
        if char != " " and (not any(bitmap[1]) or bitmap == missing):
            continue
        drawable.add(char)
        bitmaps[char] = bitmap
        advances[char] = font.getlength(char) / _CHECK_SIZE
    stroke = _stroke(font, drawable)
    case_distinct: set[str] = set()
    if _caps_like(font, drawable) or _SMALL_CAPS_NAME.search(family):
        return FontCheck(frozenset(drawable), frozenset(case_distinct), advances, ascent, max(descent, 0.0), stroke)
    for char in drawable:
        other = char.swapcase()
        if other != char and (other not in bitmaps or bitmaps[other] != bitmaps[char]):
            other_bitmap = bitmaps.get(other) or _bitmap(font, other)
            if other_bitmap != bitmaps[char]:
                case_distinct.add(char)
    return FontCheck(frozenset(drawable), frozenset(case_distinct), advances, ascent, max(descent, 0.0), stroke)


def _stroke(font: ImageFont.FreeTypeFont, drawable: set[str]) -> float:
    """Median width of the horizontal ink runs across a few letters' stems, in em."""
    runs: list[int] = []
    for char in "HnloI":
        if char in drawable:
            ink = (np.asarray(_bitmap_image(font, char)) > 127).astype(np.int8)
            edges = np.diff(np.pad(ink, ((0, 0), (1, 1))), axis=1)
            runs.extend((np.nonzero(edges == -1)[1] - np.nonzero(edges == 1)[1]).tolist())
    return float(np.median(runs)) / _CHECK_SIZE if runs else 0.1


def _caps_like(font: ImageFont.FreeTypeFont, drawable: set[str]) -> bool:
    """Whether lowercase letters are drawn as capitals (all-caps and small-caps fonts).

    Compares letters whose two cases differ in shape in ordinary fonts: scaled to the capital's
    box, an ordinary lowercase overlaps its capital by 0.4-0.78 (IoU); a capital-shaped one by 0.8-1.
    """
    overlaps = []
    for char in "abdefghnqrt":
        if char not in drawable or char.upper() not in drawable:
            continue
        lower, upper = _bitmap_image(font, char), _bitmap_image(font, char.upper())
        a = np.asarray(lower.resize(upper.size, Image.Resampling.BILINEAR)) > 100
        b = np.asarray(upper) > 100
        union = int((a | b).sum())
        overlaps.append((a & b).sum() / union if union else 1.0)
    return bool(overlaps) and float(np.median(overlaps)) >= _CAPS_OVERLAP


def _bitmap_image(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    left, top, right, bottom = (int(value) for value in font.getbbox(char))
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(image).text((-left, -top), char, font=font, fill=255)
    return image


def _bitmap(font: ImageFont.FreeTypeFont, char: str) -> tuple[tuple[int, int], bytes]:
    image = _bitmap_image(font, char)
    return image.size, image.tobytes()


def _cached_check(task: tuple[str, str, str]) -> tuple[str, FontCheck | str]:
    """Check ``path`` for ``chars`` using the on-disk cache; return the check or why it failed."""
    path, chars, cache_dir = task
    try:
        digest = _file_hash(path)
    except OSError as error:
        return path, f"cannot read it ({error})"
    cache_file = Path(cache_dir) / f"{digest}.json"
    cached: dict[str, object] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache_file.read_text(encoding="utf-8"))
        cached = loaded if isinstance(loaded, dict) else {}
    if isinstance(cached.get("error"), str):
        return path, str(cached["error"])
    checked = str(cached.get("checked", ""))
    wanted = "".join(sorted(set(chars) | set(chars.swapcase())))
    if not set(wanted) <= set(checked):
        checked = "".join(sorted(set(checked) | set(wanted)))
        try:
            result = check_font(path, checked)
            cached = {"checked": checked, "drawable": "".join(sorted(result.drawable)),
                      "case_distinct": "".join(sorted(result.case_distinct)), "advances": result.advances,
                      "ascent": result.ascent, "descent": result.descent, "stroke": result.stroke}  # fmt: skip
        except (OSError, ValueError, MemoryError) as error:
            cached = {"error": f"unreadable as a font ({error})"}
        _write_atomic(cache_file, json.dumps(cached, ensure_ascii=False))
        if "error" in cached:
            return path, str(cached["error"])
    advances = cached.get("advances")
    return path, FontCheck(
        frozenset(str(cached["drawable"])), frozenset(str(cached["case_distinct"])),
        {str(k): float(v) for k, v in advances.items()} if isinstance(advances, dict) else {},
        float(cached.get("ascent", 0.8)), float(cached.get("descent", 0.2)),  # type: ignore[arg-type]
        float(cached.get("stroke", 0.1)),  # type: ignore[arg-type]
    )  # fmt: skip


def _write_atomic(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # a read-only cache only costs time


def allowed_chars(check: FontCheck, charset: Charset) -> frozenset[str]:
    """Characters the font may draw for ``charset``: label = the character, or its other case where the
    charset has only that one (so "HELLO" may be drawn for a lowercase charset and labelled "hello")."""
    allowed = set()
    for char in check.drawable:
        other = char.swapcase()
        in_charset, other_in_charset = char in charset, other != char and other in charset
        if in_charset and other_in_charset:
            if char in check.case_distinct:
                allowed.add(char)
        elif in_charset or other_in_charset:
            allowed.add(char)
    return frozenset(allowed)


def label_for(text: str, charset: Charset) -> str:
    """The label of drawn ``text``: each character, or its other case where only that is in the charset."""
    return "".join(char if char in charset else char.swapcase() for char in text)


def _default_signals() -> None:
    """A pool worker dies on the pool's SIGTERM. It is forked from ``crnn``, whose SIGTERM handler
    (unwind like Ctrl-C) it would inherit: the worker then survived ``Pool.terminate`` and the
    caller hung in ``join`` (seen when ``crnn train`` opened a second ``synth:`` source)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def select_fonts(
    faces: Sequence[FontFace],
    charset: Charset,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[SelectedFont]:
    """Keep the faces that draw at least half of ``charset``, each with what it may draw.

    Unreadable files and fonts that draw too little are skipped with a ``FontWarning``; hairline
    weights (stems under ``MIN_STROKE`` em, which fade to grey at 32 pixels) are left out quietly.
    """
    warn_if_basic_layout()
    cache = str(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    symbols = "".join(charset.symbols)
    tasks = [(face.path, symbols, cache) for face in faces]
    if workers > 1 and len(tasks) > 16:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_default_signals) as pool:
            results = []
            for result in pool.imap(_cached_check, tasks, chunksize=8):
                results.append(result)
                if progress:
                    progress(len(results), len(tasks))
    else:
        results = []
        for task in tasks:
            results.append(_cached_check(task))
            if progress:
                progress(len(results), len(tasks))
    folded = {symbol.lower() for symbol in charset.symbols}
    selected = []
    for face, (path, outcome) in zip(faces, results, strict=True):
        if isinstance(outcome, str):
            warnings.warn(f"font {path}: {outcome}; skipped", FontWarning, stacklevel=2)
            continue
        if outcome.stroke < MIN_STROKE:
            continue
        allowed = allowed_chars(outcome, charset)
        # Counted without case, so an all-capitals font passes on its capitals, digits and punctuation.
        drawn = {char.lower() for char in allowed}
        if len(drawn) < MIN_SHARE * len(folded):
            warnings.warn(
                f"font {path}: draws only {len(drawn)} of the {len(folded)} charset symbols (ignoring case); skipped",
                FontWarning, stacklevel=2,
            )  # fmt: skip
            continue
        selected.append(SelectedFont(face, outcome, allowed))
    return selected


FONT_SPLITS = ("all", "train", "heldout")
HELDOUT_SHARE = 10  # one family in this many is held out


def font_split(fonts: Sequence[SelectedFont], split: str) -> list[SelectedFont]:
    """The fonts of one side of a fixed split by family: about one family in ten is ``heldout``,
    the rest ``train``. A family's side depends on its name only, so it is the same on every
    machine and stays put as fonts are added; a model trained on ``train`` has never seen a
    ``heldout`` face, which makes the held-out sets an honest check of unseen looks."""
    if split not in FONT_SPLITS:
        raise ConfigError(f"font split must be one of {', '.join(FONT_SPLITS)}, got {split!r}")
    if split == "all":
        return list(fonts)
    want_heldout = split == "heldout"
    return [font for font in fonts if is_heldout_family(font.face.family) == want_heldout]


def is_heldout_family(family: str) -> bool:
    digest = hashlib.sha256(family.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % HELDOUT_SHARE == 0


def uncovered_symbols(fonts: Sequence[SelectedFont], charset: Charset) -> list[str]:
    """Charset symbols that no selected font may draw (they will never appear in a label)."""
    covered = {label_for(char, charset) for font in fonts for char in font.allowed}
    return [symbol for symbol in charset.symbols if symbol not in covered]


@lru_cache(maxsize=192)
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A FreeType font at ``size`` pixels per em, laid out by ``text_layout()`` (cached: loading costs
    about 0.1-0.3 ms)."""
    return ImageFont.truetype(path, size, layout_engine=_LAYOUT_ENGINES[text_layout()])
