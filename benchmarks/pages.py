"""crnn-ctc's page reader against Tesseract on the same whole pages, in one run: page CER and WER,
line detection, and pages per second.

Why: issue 17's targets compare us with Tesseract (page WER at most 1.5x its WER), and such a figure
means something only when both read the same images on the same machine at the same moment.

Three sets of pages:
- ``synthetic``: ``render_page`` pages (headline, 1 to 3 columns, pictures, scan effects) in fonts of
  the held-out family split, seeds from ``SYNTH_FIRST_SEED`` on; ground truth exact, line boxes included;
- ``real``: pages of Debian's documentation PDFs (``real_pages.py``), the text layer as ground truth;
- ``real-degraded``: the same pages scanned badly (``real_pages.scan_degrade``, seeded).

Each page is saved as a PNG (with its resolution) before timing; each engine then reads that file.
Ours: ``PageReader`` over ``Recognizer.load()`` (the bundled model, default backend) at ``--threads``,
decoded greedily (``crnn-ctc``), with ``auto`` (``crnn read``'s default) and, with ``--word-prior``, with
beam search and the prior on every line,
timed from opening the PNG to the ``Page``, the model loaded once. Tesseract: ``tesseract PAGE OUT txt
hocr``, one process a page with ``OMP_THREAD_LIMIT=--threads``, timed as a whole (its start-up and model
load are part of every page; ``tesseract_startup_s`` in the JSON measures them on a blank image). The
engines take turns on each page, the first alternating, after one warm-up read each.

Scoring: both texts NFKC-normalised and typographic quotes and dashes written in ASCII
(``real_pages.fold_text``), then ``page_error_rates`` (CER over the text with whitespace runs made one
space, WER over words); a set's CER and WER are over all its characters and words (pages weighted by
length). Line detection: predicted line boxes matched one-to-one to true ones at IoU >= 0.5
(``LineDetectionScore``), Tesseract's from its hOCR ``ocr_line``-like elements.

Usage (the Makefile's ``bench-pages`` installs Tesseract and the PDFs, then runs this):
  OMP_NUM_THREADS=1 python benchmarks/pages.py [--pages 10] [--threads 1] [--dpi 150] [--sets synthetic,real]
      [--out pages.json] [--no-tesseract]
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from PIL import Image

from crnn_ctc.page.metrics import LineDetectionScore, page_error_rates
from crnn_ctc.page.types import Box
from crnn_ctc.synth.page_config import PageSynthConfig
from real_pages import DEFAULT_DPI, fold_text, load_real_pages, scan_degrade

SETS = ("synthetic", "real", "real-degraded")
SYNTH_FIRST_SEED = 170_000  # page seeds of this benchmark: apart from the tests' and the examples'
_HOCR_LINE = re.compile(
    r"<span class='(?:ocr_line|ocr_header|ocr_caption|ocr_textfloat)'[^>]*title=['\"]bbox (\d+) (\d+) (\d+) (\d+)"
)


@dataclass(frozen=True)
class BenchPage:
    """A page to read: its image file (PNG), true text, and true line boxes where known (synthetic)."""

    set_name: str
    name: str
    path: Path
    text: str
    lines: tuple[Box, ...] | None = None


@dataclass(frozen=True)
class Reading:
    """What an engine read on a page, and how long it took; ``error`` when it failed (text empty)."""

    text: str
    seconds: float
    line_boxes: tuple[Box, ...] | None = None
    error: str | None = None


@dataclass(frozen=True)
class PageResult:
    engine: str
    set_name: str
    page: str
    seconds: float
    cer: float
    wer: float
    characters: int  # of the true text, whitespace runs as one space
    words: int
    lines_predicted: int | None = None
    lines_true: int | None = None
    lines_matched: int | None = None
    error: str | None = None


# -- pages ------------------------------------------------------------------------------------------
def _save(image: Image.Image, path: Path, dpi: int) -> Path:
    image.save(path, format="PNG", dpi=(dpi, dpi))
    return path


def synthetic_pages(
    count: int, folder: Path, first_seed: int = SYNTH_FIRST_SEED, config: PageSynthConfig | None = None
) -> list[BenchPage]:
    """``count`` synthetic pages, by default in held-out fonts on an A4 sheet at 150 dpi."""
    from crnn_ctc.synth.pages import render_page

    config = config or PageSynthConfig(font_split="heldout")
    pages = []
    for seed in range(first_seed, first_seed + count):
        page = render_page(seed, config)
        name = f"synth-{seed}"
        path = _save(page.image, folder / f"{name}.png", 150)
        pages.append(BenchPage("synthetic", name, path, page.text, tuple(box for _, box in page.lines)))
    return pages


def real_bench_pages(
    count: int, folder: Path, dpi: int = DEFAULT_DPI
) -> tuple[list[BenchPage], list[BenchPage], list[str]]:
    """``count`` real pages clean and the same pages degraded (seed: the page's place in the set), and
    the Debian packages whose PDFs are missing."""
    real, missing = load_real_pages(count, dpi)
    clean, degraded = [], []
    for index, page in enumerate(real):
        clean.append(BenchPage("real", page.name, _save(page.image, folder / f"{page.name}.png", dpi), page.text))
        scanned = _save(scan_degrade(page.image, index), folder / f"{page.name}-scan.png", dpi)
        degraded.append(BenchPage("real-degraded", f"{page.name}-scan", scanned, page.text))
    return clean, degraded, missing


# -- engines ----------------------------------------------------------------------------------------
class OurReader:
    """``PageReader`` over the bundled model, loaded once."""

    def __init__(
        self,
        threads: int = 1,
        backend: str = "auto",
        word_prior: str | None = None,
        check_spaces: bool = True,
        decoder: str = "greedy",
    ) -> None:
        from crnn_ctc import Recognizer
        from crnn_ctc.decode import DecoderOptions
        from crnn_ctc.page import PageOptions, PageReader

        options = None
        if word_prior:  # beam search with the prior on every line
            decoder, options = "beam", DecoderOptions(word_prior=word_prior)
        recognizer = Recognizer.load(backend=backend, threads=threads, decoder=decoder, decoder_options=options)
        self.reader = PageReader(recognizer, PageOptions(check_spaces=check_spaces))

    def __call__(self, path: Path) -> Reading:
        start = time.perf_counter()
        with Image.open(path) as image:
            page = self.reader.read(image, str(path))
        seconds = time.perf_counter() - start
        return Reading(page.text, seconds, tuple(line.box for line in page.lines))


class TesseractReader:
    """The ``tesseract`` command, a process a page, its text and hOCR line boxes from one run."""

    def __init__(self, threads: int = 1, binary: str = "tesseract", language: str = "eng") -> None:
        self.binary, self.language = binary, language
        self.env = {**os.environ, "OMP_THREAD_LIMIT": str(threads)}

    def __call__(self, path: Path) -> Reading:
        with tempfile.TemporaryDirectory(prefix="crnn-bench-tess-") as folder:
            base = Path(folder) / "out"
            command = [self.binary, str(path), str(base), "-l", self.language, "txt", "hocr"]
            start = time.perf_counter()
            done = subprocess.run(command, env=self.env, capture_output=True, text=True, check=False)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                return Reading("", seconds, (), f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
            text = base.with_suffix(".txt").read_text(encoding="utf-8")
            boxes = hocr_line_boxes(base.with_suffix(".hocr").read_text(encoding="utf-8"))
        return Reading(text, seconds, boxes)


def hocr_line_boxes(hocr: str) -> tuple[Box, ...]:
    """The boxes of the text lines of a Tesseract hOCR page (``ocr_line`` and its header, caption and
    floating-text kin)."""
    return tuple(Box(*(int(value) for value in match.groups())) for match in _HOCR_LINE.finditer(html.unescape(hocr)))


def tesseract_version(binary: str = "tesseract") -> str | None:
    """``tesseract --version``'s first line, or ``None`` if it cannot be run."""
    if shutil.which(binary) is None:
        return None
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


# -- scoring ----------------------------------------------------------------------------------------
def score(engine: str, page: BenchPage, reading: Reading) -> PageResult:
    """A page's CER and WER (both texts folded), and line detection where the true lines are known."""
    truth = fold_text(page.text)
    cer, wer = page_error_rates(fold_text(reading.text), truth)
    detection = None
    if page.lines is not None and reading.line_boxes is not None:
        detection = LineDetectionScore.of(reading.line_boxes, page.lines)
    return PageResult(
        engine, page.set_name, page.name, reading.seconds, cer, wer, len(" ".join(truth.split())), len(truth.split()),
        detection.predicted if detection else None, detection.truth if detection else None,
        detection.matched if detection else None, reading.error,
    )  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """One engine on one set (or ``all``): CER and WER over all characters and words, pages per second,
    and line precision and recall over all lines (``None`` without true lines)."""

    set_name: str
    engine: str
    pages: int
    cer: float
    wer: float
    pages_per_s: float
    precision: float | None
    recall: float | None
    errors: int


def summarise(results: Sequence[PageResult], set_name: str, engine: str) -> Summary:
    chosen = [r for r in results if r.engine == engine and set_name in ("all", r.set_name)]
    characters = sum(r.characters for r in chosen)
    words = sum(r.words for r in chosen)
    seconds = sum(r.seconds for r in chosen)
    scored = [r for r in chosen if r.lines_true is not None]
    predicted = sum(r.lines_predicted or 0 for r in scored)
    matched = sum(r.lines_matched or 0 for r in scored)
    true = sum(r.lines_true or 0 for r in scored)
    return Summary(
        set_name, engine, len(chosen),
        sum(r.cer * r.characters for r in chosen) / characters if characters else 0.0,
        sum(r.wer * r.words for r in chosen) / words if words else 0.0,
        len(chosen) / seconds if seconds else 0.0,
        (matched / predicted if predicted else 1.0) if scored else None,
        (matched / true if true else 1.0) if scored else None,
        sum(r.error is not None for r in chosen),
    )  # fmt: skip


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def markdown_table(rows: Iterable[Summary]) -> str:
    lines = [
        "| engine | pages | CER | WER | pages/s | line precision | line recall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        failed = f" ({row.errors} failed)" if row.errors else ""
        lines.append(f"| {row.engine} | {row.pages}{failed} | {_percent(row.cer)} | {_percent(row.wer)} | "
                     f"{row.pages_per_s:.2f} | {_percent(row.precision)} | {_percent(row.recall)} |")  # fmt: skip
    return "\n".join(lines)


# -- the run ----------------------------------------------------------------------------------------
def run_pages(
    pages: Sequence[BenchPage], engines: dict[str, Callable[[Path], Reading]],
    progress: Callable[[str], None] = lambda _: None,
) -> list[PageResult]:  # fmt: skip
    """Every engine on every page, taking turns (the first alternating), after a warm-up read each."""
    if not pages:
        return []
    for read in engines.values():
        read(pages[0].path)
    results = []
    names = list(engines)
    for index, page in enumerate(pages):
        order = names if index % 2 == 0 else names[::-1]
        for engine in order:
            try:
                reading = engines[engine](page.path)
            except Exception as error:  # one failed page is a wrong page, not a failed benchmark
                reading = Reading("", 0.0, (), f"{type(error).__name__}: {error}")
            result = score(engine, page, reading)
            results.append(result)
            progress(f"{page.set_name} {page.name} {engine}: CER {100 * result.cer:.1f}% WER {100 * result.wer:.1f}% "
                     f"{result.seconds:.2f} s" + (f" ({result.error})" if result.error else ""))  # fmt: skip
    return results


def tesseract_startup(reader: TesseractReader, folder: Path) -> float:
    """Seconds Tesseract takes on a blank 64x64 image: its process start and model load (median of 3)."""
    blank = _save(Image.new("L", (64, 64), 255), folder / "blank.png", 150)
    times = sorted(reader(blank).seconds for _ in range(3))
    return times[1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=10, help="pages per set (default 10)")
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--threads", type=int, default=1, help="threads for each engine (default 1)")
    parser.add_argument("--backend", default="auto", help="our backend (default auto)")
    parser.add_argument("--dpi", type=int, default=DEFAULT_DPI, help="resolution PDF pages are rendered at")
    parser.add_argument("--no-tesseract", action="store_true", help="read with crnn-ctc only")
    parser.add_argument(
        "--word-prior", metavar="SRC", help="also read with beam search and this word prior (wordfreq or a FILE)"
    )
    parser.add_argument(
        "--spaces-as-read",
        action="store_true",
        help="also read with our page reader's space check off (the spaces the model read, unchecked)",
    )
    parser.add_argument("--out", type=Path, help="write every page's result and the tables' rows as JSON")
    args = parser.parse_args(argv)
    sets = [name.strip() for name in args.sets.split(",") if name.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown or args.pages < 1 or args.threads < 1:
        parser.error(f"--sets takes {', '.join(SETS)}; --pages and --threads at least 1")

    def note(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    version = None if args.no_tesseract else tesseract_version()
    if not args.no_tesseract and version is None:
        note("tesseract: not installed, so only crnn-ctc is measured (`make tesseract` installs it)")
    with tempfile.TemporaryDirectory(prefix="crnn-bench-pages-") as folder_name:
        folder = Path(folder_name)
        pages: list[BenchPage] = []
        if "synthetic" in sets:
            pages += synthetic_pages(args.pages, folder)
        if "real" in sets or "real-degraded" in sets:
            clean, degraded, missing = real_bench_pages(args.pages, folder, args.dpi)
            if missing:
                note(f"real pages: PDFs missing; `make bench-pages-data` installs {', '.join(missing)}")
            pages += (clean if "real" in sets else []) + (degraded if "real-degraded" in sets else [])
        engines: dict[str, Callable[[Path], Reading]] = {
            "crnn-ctc": OurReader(args.threads, args.backend),
            "crnn-ctc auto (crnn read)": OurReader(args.threads, args.backend, decoder="auto"),
        }
        if args.word_prior:
            engines["crnn-ctc + word prior"] = OurReader(args.threads, args.backend, args.word_prior)
        if args.spaces_as_read:
            engines["crnn-ctc, spaces as read"] = OurReader(args.threads, args.backend, check_spaces=False)
            if args.word_prior:
                engines["crnn-ctc + word prior, spaces as read"] = OurReader(
                    args.threads, args.backend, args.word_prior, check_spaces=False
                )
        startup = None
        if version is not None:
            tesseract = TesseractReader(args.threads)
            engines["tesseract"] = tesseract
            startup = tesseract_startup(tesseract, folder)
        results = run_pages(pages, engines, note)

    summaries = {name: [summarise(results, name, engine) for engine in engines] for name in [*sets, "all"]}
    for name, rows in summaries.items():
        print(f"\n### {name}\n\n{markdown_table(rows)}")
    if startup is not None:
        print(f"\nTesseract's start-up and model load, part of each of its pages: {startup:.2f} s ({version})")
    if args.out:
        report = {
            "command": " ".join(["python", "benchmarks/pages.py", *(argv if argv is not None else sys.argv[1:])]),
            "date": date.today().isoformat(), "cpu": _cpu_name(), "threads": args.threads, "dpi": args.dpi,
            "tesseract": version, "tesseract_startup_s": startup, "synth_first_seed": SYNTH_FIRST_SEED,
            "summary": [asdict(row) for rows in summaries.values() for row in rows],
            "pages": [asdict(result) for result in results],
        }  # fmt: skip
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def _cpu_name() -> str:
    from crnn_ctc.cpu import cpu_name

    return cpu_name()


if __name__ == "__main__":
    sys.exit(main())
