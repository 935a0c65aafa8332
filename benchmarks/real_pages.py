"""Real typeset pages for ``benchmarks/pages.py``: pages of the PDFs that Debian's documentation
packages install, rendered with pypdfium2, with the ground truth taken from each PDF's own text layer,
and a copy of each with scan effects.

Why: synthetic pages are drawn by the same code that drew the training lines. These pages are
typography that nobody here chose, and their text layer gives exact ground truth for free.

Which pages: the text layer is read in its content order, which for a single column of running text is
reading order. A page is left out when its text is short, is a table of contents (dot leaders), holds
few letters (tables, hex dumps, code), runs in more than one column, overflows the page (the text
layer would hold words that the image does not show), or has a symbol outside ``printable+space``
once it is NFKC-normalised and its typographic quotes, dashes and hyphenation marks are written in
ASCII (``fold_text``: the same folding is applied to every engine's output before scoring). Bullets
(U+2022) are not folded, so pages with bulleted lists are left out.

The PDFs (``SOURCES``) come from ``make bench-pages-data`` (``apt-get install`` of the packages
named there); a missing one is skipped with a note.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from crnn_ctc.page.load import iter_pages
from crnn_ctc.synth.backgrounds import gaussian_noise
from crnn_ctc.synth.config import SynthConfig
from crnn_ctc.synth.degrade import degrade


@dataclass(frozen=True)
class PdfSource:
    """A PDF, the Debian package that installs it, and the pages that may be used (``None``: any)."""

    path: str
    package: str
    pages: tuple[int, ...] | None = None


# The TeX Gyre info PDFs share one page of running text (page 2), each set in its own typeface (Times,
# Helvetica, Courier and Palatino clones); their other pages are glyph tables.
SOURCES: tuple[PdfSource, ...] = (
    PdfSource("/usr/share/doc/maint-guide/maint-guide.en.pdf", "maint-guide"),
    PdfSource("/usr/share/developers-reference/developers-reference.pdf", "developers-reference"),
    PdfSource("/usr/share/doc/libtasn1-doc/libtasn1.pdf", "libtasn1-doc"),
    PdfSource("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf", "shared-mime-info"),
    PdfSource("/usr/share/doc/fonts-texgyre/qtm-info.pdf", "fonts-texgyre", (2,)),
    PdfSource("/usr/share/doc/fonts-texgyre/qhv-info.pdf", "fonts-texgyre", (2,)),
    PdfSource("/usr/share/doc/fonts-texgyre/qcr-info.pdf", "fonts-texgyre", (2,)),
    PdfSource("/usr/share/doc/fonts-texgyre/qpl-info.pdf", "fonts-texgyre", (2,)),
)
CHARSET = frozenset(string.ascii_letters + string.digits + string.punctuation + " ")
DEFAULT_DPI = 150

# Typographic forms of symbols that ``printable+space`` writes in ASCII. U+FFFE is PDFium's mark for a
# word hyphenated at a line's end: the page shows a hyphen there, then the next line.
_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"',
        "\u201e": '"', "\u2033": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-",
        "\u2014": "-", "\u2015": "-", "\u2212": "-", "\u00ad": "-", "\ufffe": "-\n", "\u00a0": " ",
        "\u2026": "...",
    }
)  # fmt: skip
_DOT_LEADER = re.compile(r"(?:\. ){5}")
MIN_CHARACTERS = 800
MIN_LETTER_SHARE = 0.6  # of the non-space characters
# A column's middle strip (a tenth of the page's width) holds about a tenth of the characters of a single
# column of full-width lines, and none on a two-column page: less than this share there is not one column.
MIN_MIDDLE_SHARE = 0.04


def fold_text(text: str) -> str:
    """NFKC (ligatures such as U+FB01 become "fi"), then typographic quotes, dashes and hyphenation marks as
    ASCII; line breaks kept as newlines."""
    text = unicodedata.normalize("NFKC", text.translate(_FOLD))
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_FOLD)


@dataclass(frozen=True)
class RealPage:
    """One PDF page rendered (``image``, 8-bit gray) and its text layer, folded (``text``)."""

    source: str
    page_number: int
    package: str
    image: Image.Image
    text: str

    @property
    def name(self) -> str:
        return f"{Path(self.source).stem}-p{self.page_number}"


def page_problem(text: str, overflow: bool = False, middle_share: float = 1.0) -> str | None:
    """Why a page's folded text layer is left out, or ``None`` if it qualifies."""
    flat = " ".join(text.split())
    if overflow:
        return "text outside the page"
    if len(flat) < MIN_CHARACTERS:
        return f"under {MIN_CHARACTERS} characters"
    if _DOT_LEADER.search(flat):
        return "table of contents"
    outside = sorted(set(flat) - CHARSET)
    if outside:
        return "outside printable+space: " + " ".join(f"U+{ord(symbol):04X}" for symbol in outside[:5])
    visible = flat.replace(" ", "")
    if sum(symbol.isalpha() for symbol in visible) < MIN_LETTER_SHARE * len(visible):
        return "few letters"
    if middle_share < MIN_MIDDLE_SHARE:
        return "not one column"
    return None


def _text_layer(page: object) -> tuple[str, bool, float]:
    """The page's text in content order, whether some of it lies outside the page, and the share of its
    characters in the middle tenth of the page's width."""
    textpage = page.get_textpage()  # type: ignore[attr-defined]
    try:
        text = textpage.get_text_range()
        left, bottom, right, top = page.get_bbox()  # type: ignore[attr-defined]
        inside = textpage.get_text_bounded(left, bottom, right, top)
        middle = left + 0.45 * (right - left), left + 0.55 * (right - left)
        in_middle = textpage.get_text_bounded(middle[0], bottom, middle[1], top)
    finally:
        textpage.close()
    visible = len("".join(text.split()))
    overflow = len("".join(inside.split())) < visible
    share = len("".join(in_middle.split())) / visible if visible else 0.0
    return text, overflow, share


def candidate_pages(source: PdfSource) -> list[tuple[int, str]]:
    """(page number, folded text) of the pages of ``source`` that qualify (``page_problem``)."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(source.path)
    try:
        kept = []
        for page_number in source.pages or range(1, len(document) + 1):
            page = document[page_number - 1]
            try:
                raw, overflow, middle_share = _text_layer(page)
            finally:
                page.close()
            text = fold_text(raw)
            if page_problem(text, overflow, middle_share) is None:
                kept.append((page_number, text))
        return kept
    finally:
        document.close()


def available_sources(sources: Sequence[PdfSource] = SOURCES) -> tuple[list[PdfSource], list[str]]:
    """(the sources whose PDF is here, the Debian packages that would install the missing ones)."""
    present = [source for source in sources if Path(source.path).is_file()]
    missing = sorted({source.package for source in sources if not Path(source.path).is_file()})
    return present, missing


def choose_pages(candidates: Sequence[list[tuple[int, str]]], count: int) -> list[tuple[int, int, str]]:
    """``count`` pages spread over the PDFs as (PDF index, page number, text): a page each in turn, in the
    given order, while a PDF has pages left, and each PDF's share taken evenly spaced through it so that a
    manual's first chapter does not fill the set. Deterministic."""
    shares = [0] * len(candidates)
    while sum(shares) < count and any(share < len(pages) for share, pages in zip(shares, candidates, strict=True)):
        for index, pages in enumerate(candidates):
            if shares[index] < len(pages) and sum(shares) < count:
                shares[index] += 1
    chosen: list[tuple[int, int, str]] = []
    for index, (share, pages) in enumerate(zip(shares, candidates, strict=True)):
        step = len(pages) / share if share else 0.0
        chosen.extend((index, *pages[int((i + 0.5) * step)]) for i in range(share))
    return chosen


def load_real_pages(
    count: int, dpi: int = DEFAULT_DPI, sources: Sequence[PdfSource] = SOURCES
) -> tuple[list[RealPage], list[str]]:
    """``count`` qualifying pages (fewer if the PDFs hold fewer), rendered at ``dpi`` through
    ``crnn_ctc.page.load.iter_pages`` (what ``crnn read`` does with a PDF), and the Debian packages
    whose PDFs are missing."""
    present, missing = available_sources(sources)
    chosen = choose_pages([candidate_pages(source) for source in present], count)
    wanted: dict[int, dict[int, str]] = {}
    for index, page_number, text in chosen:
        wanted.setdefault(index, {})[page_number] = text
    pages = []
    for index, numbers in wanted.items():
        source = present[index]
        for pending in iter_pages(source.path, dpi=dpi):
            if pending.page_number in numbers:
                image = pending.load().convert("L")
                pages.append(
                    RealPage(source.path, pending.page_number, source.package, image, numbers[pending.page_number])
                )
    return pages, missing


def scan_degrade(image: Image.Image, seed: int) -> Image.Image:
    """A scanned copy of a clean page, the same for the same seed: turned by up to 1.5 degrees (white
    fill), blurred, noisy, in a third of the pages thresholded to black and white as a cheap scanner does,
    then JPEG-compressed. The effects are the word generator's (``synth/degrade.py``); the threshold lies
    between the page's own ink and paper levels, since ``degrade``'s percentiles miss a sparse page's ink."""
    rng = random.Random(f"crnn-real-page-scan:{seed}")
    np_rng = np.random.default_rng(rng.getrandbits(64))
    page = image.convert("L").rotate(
        rng.uniform(-1.5, 1.5), Image.Resampling.BICUBIC, expand=False, fillcolor=255
    )  # fmt: skip
    effects = SynthConfig(
        p_low_resolution=0.0, p_blur=1.0, blur_range=(0.4, 0.9), p_motion_blur=0.0, p_noise=1.0,
        noise_range=(3.0, 9.0), p_jpeg=0.0, p_grayscale=0.0, p_invert=0.0, p_binarize=0.0,
    )  # fmt: skip
    page = degrade(page.convert("RGB"), rng, np_rng, effects).convert("L")
    if rng.random() < 1 / 3:
        gray = np.asarray(page, dtype=np.float32)
        ink, paper_level = np.percentile(gray, 0.5), np.median(gray)
        threshold = ink + (paper_level - ink) * rng.uniform(0.4, 0.6)
        noisy = gaussian_noise(np_rng, gray.shape, rng.uniform(0, 12)) + gray
        page = Image.fromarray((noisy > threshold).view(np.uint8) * np.uint8(255), "L")
    jpeg = effects.with_changes(p_blur=0.0, p_noise=0.0, p_jpeg=1.0, jpeg_quality_range=(50, 85))
    return degrade(page.convert("RGB"), rng, np_rng, jpeg).convert("L")
