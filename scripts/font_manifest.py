#!/usr/bin/env python3
"""List the fonts that `make fonts` installed, with their names, style, source and licence.

Writes ``.fonts/manifest.tsv`` (read by ``crnn_ctc.synth.fonts``: the default font set) and, with
``--markdown``, the human-readable ``FONTS.md``. Standard library only, so it runs before the
project's virtual environment exists: font names come from a small reader of the OpenType
``name``, ``OS/2`` and ``post`` tables (TTF, OTF and WOFF; WOFF2 needs Brotli and is not used).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_LIST = ROOT / "scripts" / "fonts" / "debian-packages.txt"
NPM_ROOT = ROOT / ".fonts" / "npm" / "node_modules" / "@fontsource"
FONT_SUFFIXES = (".ttf", ".otf")  # Type 1 (.pfb/.t1) duplicates of URW fonts ship as .otf too
# Fonts whose glyphs are not letters, or are letters only in name: never text.
NOT_TEXT = re.compile(
    r"symbol|dingbat|d050000l|math|icon|emoji|ornament|barcode|braille|\bpi\b|\bkeys?\b|initials|flatline|"
    r"size[1-5]|stixsize|integrals|nonunicode|stixvariants|tamil",
    re.IGNORECASE,
)
# npm (Fontsource) latin subset, WOFF 1.0: FreeType and fontTools both read it without Brotli.
NPM_FILE = re.compile(r"-latin-(\d+)-(normal|italic)\.woff$")
CATEGORIES = ("sans-serif", "serif", "monospace", "handwriting", "display")
WEIGHT_NAMES = {100: "Thin", 200: "ExtraLight", 300: "Light", 400: "Regular", 500: "Medium", 600: "SemiBold",
                700: "Bold", 800: "ExtraBold", 900: "Black"}  # fmt: skip


@dataclass
class FontEntry:
    path: str
    family: str
    style: str
    category: str
    weight: int
    italic: bool
    width_class: int
    source: str  # debian | npm
    package: str
    version: str
    licence: str


# -- OpenType tables -------------------------------------------------------------------------------
def _tables(data: bytes) -> dict[str, bytes]:
    """Raw tables of a TTF/OTF or WOFF 1.0 file (empty for anything else)."""
    tag = data[:4]
    tables: dict[str, bytes] = {}
    if tag == b"wOFF":
        count = struct.unpack(">H", data[12:14])[0]
        for i in range(count):
            name, offset, comp_length, orig_length, _ = struct.unpack(">4sIIII", data[44 + 20 * i : 64 + 20 * i])
            raw = data[offset : offset + comp_length]
            tables[name.decode("latin-1")] = zlib.decompress(raw) if comp_length < orig_length else raw
    elif tag in (b"\x00\x01\x00\x00", b"OTTO", b"true"):
        count = struct.unpack(">H", data[4:6])[0]
        for i in range(count):
            name, _, offset, length = struct.unpack(">4sIII", data[12 + 16 * i : 28 + 16 * i])
            tables[name.decode("latin-1")] = data[offset : offset + length]
    return tables


def _names(table: bytes) -> dict[int, str]:
    """English names by name ID, Windows Unicode records first, then Macintosh Roman."""
    if len(table) < 6:
        return {}
    count, string_offset = struct.unpack(">HH", table[2:6])
    found: dict[int, tuple[int, str]] = {}
    for i in range(count):
        platform, encoding, language, name_id, length, offset = struct.unpack(">6H", table[6 + 12 * i : 18 + 12 * i])
        raw = table[string_offset + offset : string_offset + offset + length]
        if platform == 3 and encoding in (0, 1, 10) and language == 0x409:
            rank, text = 0, raw.decode("utf-16-be", "replace")
        elif platform == 1 and encoding == 0 and language == 0:
            rank, text = 1, raw.decode("mac-roman", "replace")
        else:
            continue
        if name_id not in found or rank < found[name_id][0]:
            found[name_id] = (rank, text.strip())
    return {name_id: text for name_id, (_, text) in found.items()}


@dataclass
class FontFacts:
    family: str
    style: str
    postscript: str
    weight: int
    italic: bool
    width_class: int
    fixed_pitch: bool
    panose: bytes


def read_facts(path: Path) -> FontFacts | None:
    try:
        tables = _tables(path.read_bytes())
    except (OSError, struct.error, zlib.error):
        return None
    if "name" not in tables:
        return None
    names = _names(tables["name"])
    os2 = tables.get("OS/2", b"")
    weight, width_class = struct.unpack(">HH", os2[4:8]) if len(os2) >= 8 else (400, 5)
    selection = struct.unpack(">H", os2[62:64])[0] if len(os2) >= 64 else 0
    post = tables.get("post", b"")
    style = names.get(17) or names.get(2) or "Regular"
    return FontFacts(
        family=names.get(16) or names.get(1) or path.stem,
        style=style,
        postscript=names.get(6, ""),
        weight=weight,
        italic=bool(selection & 1) or "italic" in style.lower() or "oblique" in style.lower(),
        width_class=width_class,
        fixed_pitch=len(post) >= 16 and struct.unpack(">I", post[12:16])[0] != 0,
        panose=os2[32:42] if len(os2) >= 42 else b"",
    )


def guess_category(facts: FontFacts) -> str:
    """For packages of mixed styles: from the name, then the fixed-pitch flag, then PANOSE."""
    family = facts.family.lower()
    if facts.fixed_pitch or re.search(r"mono|code|courier|typewriter|cousine|\bcursor\b", family):
        return "monospace"
    if re.search(r"chancery|z003|script", family):
        return "handwriting"
    if re.search(r"sans|gothic|\bgo\b|arimo|helvet|nimbus sans|heros|adventor|urw gothic|d050000l|carlito", family):
        return "sans-serif"
    if re.search(r"serif|roman|times|tinos|termes|pagella|bonum|schola|bookman|c059|p052|garamond|caladea", family):
        return "serif"
    if facts.panose[:1] == b"\x03":
        return "handwriting"
    if facts.panose[:1] == b"\x04":
        return "display"
    serif_style = facts.panose[1] if len(facts.panose) > 1 else 0
    return "sans-serif" if serif_style in (11, 12, 13) else "serif"


# -- Debian ---------------------------------------------------------------------------------------
def debian_licence(package: str) -> str:
    """Licence names from the package's copyright file (machine-readable DEP-5 where it is)."""
    path = Path("/usr/share/doc") / package / "copyright"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown (no copyright file)"
    licences: list[str] = []
    if text.startswith("Format:"):
        for paragraph in re.split(r"\n\s*\n", text):
            files = re.search(r"^Files:\s*(.+)$", paragraph, re.M)
            licence = re.search(r"^License:\s*(\S.*)$", paragraph, re.M)
            if files and licence and not files.group(1).strip().startswith("debian/"):
                name = licence.group(1).strip()
                if name not in licences:
                    licences.append(name)
    if not licences:
        known = [
            ("Open Font License", "OFL-1.1"), ("OFL", "OFL-1.1"), ("Bitstream Vera", "Bitstream-Vera"),
            ("GUST Font License", "GUST-Font-License"), ("Apache License", "Apache-2.0"), ("LPPL", "LPPL"),
            ("GNU General Public License", "GPL"), ("GPL", "GPL"), ("public domain", "public-domain"),
            ("Artistic", "Artistic"), ("MIT", "MIT"),
        ]  # fmt: skip
        licences = list(dict.fromkeys(short for needle, short in known if needle.lower() in text.lower()))[:2]
    return ", ".join(licences) or f"see {path}"


def debian_fonts() -> list[FontEntry]:
    entries: list[FontEntry] = []
    if not DEBIAN_LIST.is_file():
        return entries
    packages: dict[str, str] = {}
    for line in DEBIAN_LIST.read_text(encoding="utf-8").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) == 2:
            packages[parts[0]] = parts[1]
    for package, category in packages.items():
        try:
            listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False).stdout
            version = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:  # no dpkg: not a Debian machine
            return entries
        licence = debian_licence(package) if listing else ""
        for line in sorted(listing.splitlines()):
            path = Path(line)
            if path.suffix.lower() not in FONT_SUFFIXES or not path.is_file():
                continue
            facts = read_facts(path)
            if facts is None:
                print(f"font_manifest: skipping unreadable {path}", file=sys.stderr)
                continue
            entries.append(_entry(path, facts, category, "debian", package, version, licence))
    return entries


# -- npm (Fontsource) -----------------------------------------------------------------------------
def npm_fonts() -> list[FontEntry]:
    entries: list[FontEntry] = []
    if not NPM_ROOT.is_dir():
        return entries
    for folder in sorted(NPM_ROOT.iterdir()):
        try:
            package = json.loads((folder / "package.json").read_text(encoding="utf-8"))
            metadata = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        licence = package.get("license") or metadata.get("license", {}).get("type", "unknown")
        attribution = metadata.get("license", {}).get("attribution", "")
        if attribution:  # "Copyright 2020 The X Project Authors (URL) file: Copyright ...": keep the first holder
            holder = re.split(r"\s*\(?https?://|\s*\(github|: ", attribution)[0].strip()[:100]
            licence = f"{licence} ({holder})"
        category = metadata.get("category", "")
        category = category if category in CATEGORIES else "display"
        for path in sorted((folder / "files").glob("*-latin-*.woff")):
            match = NPM_FILE.search(path.name)
            facts = read_facts(path) if match else None
            if match is None or facts is None:
                print(f"font_manifest: skipping unreadable {path}", file=sys.stderr)
                continue
            # Subsets made from variable fonts name every weight alike: the file name is the truth.
            facts.family = metadata.get("family") or facts.family
            facts.weight, facts.italic = int(match.group(1)), match.group(2) == "italic"
            facts.style = (WEIGHT_NAMES.get(facts.weight, str(facts.weight)) + " Italic" * facts.italic).replace(
                "Regular Italic", "Italic"
            )
            entries.append(_entry(path, facts, category, "npm", package["name"], package.get("version", ""), licence))
    return entries


def _entry(
    path: Path, facts: FontFacts, category: str, source: str, package: str, version: str, licence: str
) -> FontEntry:
    if category == "mixed":
        category = guess_category(facts)
    return FontEntry(
        path=str(path), family=facts.family, style=facts.style, category=category, weight=facts.weight,
        italic=facts.italic, width_class=facts.width_class, source=source, package=package, version=version,
        licence=licence,
    )  # fmt: skip


def select(entries: list[FontEntry]) -> list[FontEntry]:
    """Drop non-text fonts and duplicates (the same face from two packages or in two formats)."""
    kept: dict[tuple[str, str, str, str], FontEntry] = {}
    real_paths: set[str] = set()
    # Preference: Debian TrueType, Debian OpenType/CFF, then npm WOFF.
    rank = {".ttf": 0, ".otf": 1, ".woff": 2}
    for entry in sorted(entries, key=lambda e: (rank.get(Path(e.path).suffix.lower(), 3), e.path)):
        if NOT_TEXT.search(entry.family) or NOT_TEXT.search(Path(entry.path).name):
            continue
        style = re.sub(r"[^a-z0-9]", "", entry.style.lower())
        key = (re.sub(r"[^a-z0-9]", "", entry.family.lower()), style, str(entry.weight), str(entry.italic))
        real_path = os.path.realpath(entry.path)
        if key not in kept and real_path not in real_paths:
            kept[key] = entry
            real_paths.add(real_path)
    return sorted(kept.values(), key=lambda e: (e.source, e.family.lower(), e.weight, e.italic, e.path))


def write_tsv(entries: list[FontEntry], out: Path) -> None:
    names = [f.name for f in fields(FontEntry)]
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_suffix(".tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write("\t".join(names) + "\n")
        for entry in entries:
            values = [str(getattr(entry, name)).replace("\t", " ").replace("\n", " ") for name in names]
            file.write("\t".join(values) + "\n")
    temporary.replace(out)


def write_markdown(entries: list[FontEntry], out: Path) -> None:
    by_source: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for entry in entries:
        by_source[entry.source] = by_source.get(entry.source, 0) + 1
        by_category[entry.category] = by_category.get(entry.category, 0) + 1
    families = len({(e.source, e.family) for e in entries})
    lines = [
        "# Fonts for synthetic training data",
        "",
        "Generated by `make fonts-md` (`scripts/font_manifest.py`) from what `make fonts` installs: Debian",
        "packages listed in `scripts/fonts/debian-packages.txt` and npm Fontsource packages pinned in",
        "`scripts/fonts/package-lock.json` (latin subset, WOFF). Do not edit by hand. Licences come from each",
        "Debian package's `copyright` file and each npm package's `package.json` and `metadata.json`; the",
        "fonts are used to render training images and are not redistributed by this project.",
        "",
        f"{len(entries)} font files in {families} families: "
        + ", ".join(f"{count} from {source}" for source, count in sorted(by_source.items()))
        + "; by style: "
        + ", ".join(f"{count} {category}" for category, count in sorted(by_category.items()))
        + ". Counts are before the per-charset glyph check, which may drop or restrict a few fonts.",
        "",
        "| file | family | style | category | source | licence |",
        "|---|---|---|---|---|---|",
    ]
    for entry in entries:
        name = Path(entry.path).name
        source = f"{entry.source}: {entry.package} {entry.version}"
        style = entry.style + ("" if entry.width_class == 5 else f" (width {entry.width_class})")
        row = [name, entry.family, style, entry.category, source, entry.licence]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in row) + " |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".fonts" / "manifest.tsv", help="manifest to write")
    parser.add_argument("--markdown", type=Path, help="also write this Markdown list (FONTS.md)")
    args = parser.parse_args()
    entries = select(debian_fonts() + npm_fonts())
    if not entries:
        print("font_manifest: no fonts found; did `make fonts` install any?", file=sys.stderr)
        return 1
    write_tsv(entries, args.out)
    if args.markdown:
        write_markdown(entries, args.markdown)
    counts = {source: sum(e.source == source for e in entries) for source in ("debian", "npm")}
    print(f"font_manifest: {len(entries)} fonts ({counts['debian']} Debian, {counts['npm']} npm) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
