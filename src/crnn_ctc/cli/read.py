"""The ``crnn read`` subcommand: whole pages in, their text (or JSON, or hOCR) out, on stdout or one file
per page. A page that cannot be read is reported and the others are still read."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CrnnError, OutputError, PageError
from ..page.load import DEFAULT_DPI, DEFAULT_MAX_PAGE_PIXELS
from .common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    EXIT_USAGE,
    add_model_options,
    add_progress_option,
    add_runtime_options,
    decoder_name,
    decoder_options,
    print_error,
    show_progress,
    word_list_file,
)

if TYPE_CHECKING:
    from ..page.types import Page

FORMATS = ("text", "json", "hocr")
SUFFIXES = {"text": ".txt", "json": ".json", "hocr": ".hocr"}
# Between pages of text on stdout, as Tesseract and pdftotext separate them.
PAGE_SEPARATOR = "\f"
MAX_DPI = 1200


def add_command(commands: argparse._SubParsersAction) -> None:
    """Register ``crnn read`` on the ``crnn`` command's subparsers."""
    read = commands.add_parser(
        "read",
        help="read whole pages: text lines found and read in reading order",
        description=(
            "Find the text lines of each page (a scan, a photo of a document, a screenshot, a PDF) and read "
            "them in reading order. PDFs and multi-page TIFFs give one page each. Lines are read with the "
            "auto decoder (greedy where the model is sure; wider, then beam search with the English word "
            "prior where it is not) unless --decoder, --word-prior or --lexicon says otherwise (--decoder "
            "greedy: faster, without the prior). See docs/reading_pages.md."
        ),
        epilog=(
            "Formats: text = the page's lines, paragraphs apart by a blank line, pages apart by a form feed; "
            "json = blocks, lines and words with boxes and confidences; hocr = hOCR 1.2 as Tesseract writes "
            "it. A page that cannot be read is reported on stderr and the others are read. "
            "Exit codes: 0 every page read; 1 some could not be read; 2 nothing could run."
        ),
    )
    read.add_argument("pages", nargs="+", metavar="PAGE", help="page images (PNG, JPEG, TIFF, ...) and PDF files")
    read.add_argument("--format", choices=FORMATS, default="text", help="(default: %(default)s)")
    read.add_argument(
        "--output", "-o", metavar="DIR",
        help="write one file per page into DIR (NAME.txt, .json or .hocr; NAME-pN.* for a file of several "
        "pages) instead of printing to stdout",
    )  # fmt: skip
    pages = read.add_argument_group("pages")
    pages.add_argument(
        "--dpi", type=int, default=DEFAULT_DPI, metavar="N", help="resolution PDF pages are rendered at "
        f"(default: %(default)s; at most {MAX_DPI})",
    )  # fmt: skip
    pages.add_argument("--max-pages", type=int, metavar="N", help="refuse a file of more than N pages (default: none)")
    pages.add_argument(
        "--max-page-pixels", type=int, default=DEFAULT_MAX_PAGE_PIXELS, metavar="N",
        help="refuse a page of more than N pixels, before decoding it (default: %(default)s, a 600-dpi A3 scan fits)",
    )  # fmt: skip
    pages.add_argument("--no-deskew", action="store_true", help="do not straighten pages tilted by up to 10 degrees")
    pages.add_argument(
        "--no-orientation", action="store_true", help="do not turn pages read sideways or upside down upright"
    )
    pages.add_argument(
        "--no-space-check", action="store_true",
        help="keep the spaces the model read, unchecked against the gaps in each line's ink",
    )  # fmt: skip
    add_progress_option(read, when=" and there are several pages")
    add_model_options(read)
    add_runtime_options(read)
    read.set_defaults(handler=run)


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.batch_size < 1:
        return f"--batch-size must be at least 1, got {args.batch_size}"
    if not 1 <= args.dpi <= MAX_DPI:
        return f"--dpi must lie in 1..{MAX_DPI}, got {args.dpi}"
    if args.max_pages is not None and args.max_pages < 1:
        return f"--max-pages must be at least 1, got {args.max_pages}"
    if args.max_page_pixels < 1:
        return f"--max-page-pixels must be at least 1, got {args.max_page_pixels}"
    if args.output is not None:
        stems: dict[str, str] = {}
        for page in args.pages:
            stem = Path(page).stem
            if stem in stems:
                return (
                    f"{stems[stem]} and {page} would write the same files into --output {args.output}; "
                    "read them in separate runs or rename one"
                )
            stems[stem] = page
    return None


def _prepare_output(folder: str) -> Path:
    """The output folder, created; refused when it is a file or cannot be written (before any work)."""
    import os

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--output {folder} is a file; name a folder to write the pages into")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output {folder}: cannot create the folder: {error.strerror or error}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--output {folder}: no permission to write in it")
    return out


class _Progress:
    """A progress bar over pages whose total grows as each file's page count becomes known; shown only
    when there are several pages."""

    def __init__(self, enabled: bool | None, files: int) -> None:
        self.enabled = show_progress(enabled)
        self.explicit = enabled is not None
        self.total = files
        self.bar: Any = None

    def add_pages(self, count: int) -> None:
        """A file turned out to hold ``count`` pages (its place in the total was one)."""
        self.total += count - 1
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def update(self) -> None:
        if self.bar is None and self.enabled and (self.total > 1 or self.explicit):
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="page", file=sys.stderr)
        if self.bar is not None:
            self.bar.update(1)

    def error(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(f"crnn: error: {message}", file=sys.stderr)
        else:
            print_error(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from ..api import Recognizer
    from ..page.formats import page_to_json, page_to_text, pages_to_hocr
    from ..page.load import iter_pages
    from ..page.reader import PageOptions, PageReader

    problem = _usage_problem(args)
    if problem is not None:
        print_error(problem)
        return EXIT_USAGE
    out = _prepare_output(args.output) if args.output is not None else None
    options = PageOptions(
        max_pixels=args.max_page_pixels, deskew=not args.no_deskew, orientation=not args.no_orientation,
        batch_size=args.batch_size, check_spaces=not args.no_space_check,
    )  # fmt: skip
    recognizer = Recognizer.load(
        args.model, model_dir=args.model_dir, backend=args.backend, device=args.device, threads=args.threads,
        decoder=decoder_name(args), decoder_options=decoder_options(args),
    )  # fmt: skip
    reader = PageReader(recognizer, options)
    progress = _Progress(args.progress, len(args.pages))
    # stdout: text streams page by page; JSON and hOCR are one document, written once every page is read.
    collected: list[Page] = []
    written: set[Path] = set()
    printed = failed = read = 0
    try:
        for path in args.pages:
            try:
                for pending in iter_pages(
                    path, dpi=args.dpi, max_pages=args.max_pages, max_pixels=args.max_page_pixels
                ):
                    if pending.page_number == 1:
                        progress.add_pages(pending.page_count)
                    try:
                        page = reader.read(pending.load(), source=pending.source, page_number=pending.page_number)
                        read += 1
                        if out is not None:
                            target = out / _output_name(path, pending.page_number, pending.page_count, args.format)
                            _write_page(page, target, args, written)
                        elif args.format == "text":
                            sys.stdout.write((PAGE_SEPARATOR if printed else "") + page_to_text(page))
                            sys.stdout.flush()
                            printed += 1
                        else:
                            collected.append(page)
                    except (CrnnError, MemoryError) as error:
                        failed += 1
                        progress.error(_describe(error, pending.source, pending.page_number))
                    progress.update()
            except CrnnError as error:  # the whole file: missing, unsupported, encrypted, too many pages
                failed += 1
                progress.error(_describe(error, str(path), None))
                progress.update()
    finally:
        progress.close()
    if out is None and args.format == "json":
        sys.stdout.write(page_to_json(collected))
    elif out is None and args.format == "hocr":
        sys.stdout.write(pages_to_hocr(collected, title=args.pages[0] if len(args.pages) == 1 else ""))
    if failed and not read:  # as crnn predict: 1 means "the others were read", and there were none
        print(f"crnn: none of the {failed} page(s) or file(s) could be read", file=sys.stderr)
        return EXIT_USAGE
    if failed:
        print(f"crnn: {failed} page(s) or file(s) could not be read", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK


def _output_name(path: str, page_number: int, page_count: int, output_format: str) -> str:
    stem = Path(path).stem
    return f"{stem}-p{page_number}{SUFFIXES[output_format]}" if page_count > 1 else f"{stem}{SUFFIXES[output_format]}"


def _write_page(page: Page, target: Path, args: argparse.Namespace, written: set[Path]) -> None:
    from ..files import atomic_text_file, refuse_same_file
    from ..page.formats import page_to_json, page_to_text, pages_to_hocr

    if target in written:  # e.g. scan-p1.png and page 1 of scan.pdf
        raise OutputError(f"{target} was already written for another page of this run; rename one input")
    others = [p for p in (args.model, args.lexicon, word_list_file(args)) if p]
    refuse_same_file(target, [*args.pages, *others], "--output")
    if args.format == "json":
        content = page_to_json([page])
    elif args.format == "hocr":
        content = pages_to_hocr([page], title=f"{page.source} page {page.page_number}")
    else:
        content = page_to_text(page)
    with atomic_text_file(target) as file:
        file.write(content)
    written.add(target)


def _describe(error: BaseException, source: str, page_number: int | None) -> str:
    """The error's message, naming the file and page unless it already does."""
    if isinstance(error, PageError):
        return str(error)
    if isinstance(error, MemoryError):
        return f"{source} page {page_number}: not enough memory to read this page; lower --dpi or --max-page-pixels"
    where = source if page_number is None else f"{source} page {page_number}"
    return f"{where}: {error}"
