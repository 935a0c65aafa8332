"""The pages of a document file as 8-bit images: PNG, JPEG (EXIF orientation applied), TIFF (1-bit and
multi-page) and anything else Pillow reads, and PDF rendered with pypdfium2 (PDFium, Chrome's PDF engine).

Every limit is checked before pixels are decoded or rendered: a page's size comes from the image
header, or from a PDF page's size in points times the rendering resolution.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ConfigError, ImageError, PageError
from ..preprocess import load_image

# A 600-dpi A3 scan (7016 x 9921, 69.6 million pixels) fits; Pillow's own bomb guard starts at 179 million.
DEFAULT_MAX_PAGE_PIXELS = 80_000_000
DEFAULT_DPI = 300
# The PDF header may start anywhere in the first 1024 bytes (PDF 1.7, annex H).
_PDF_MAGIC_WINDOW = 1024
_POINTS_PER_INCH = 72.0


class PageLimitError(PageError):
    """A page over the pixel limit (``limit == "max_pixels"``) or a file over the page limit
    (``"max_pages"``): the input is too large rather than broken. ``count`` is its pixels or pages."""

    def __init__(self, source: str, reason: str, page_number: int | None, *, limit: str, count: int) -> None:
        super().__init__(source, reason, page_number)
        self.limit = limit
        self.count = count


@dataclass(frozen=True)
class PageImage:
    """One page of a file, decoded: ``page_number`` counts from 1 within ``source``."""

    source: str
    page_number: int
    image: Image.Image


@dataclass(frozen=True)
class PendingPage:
    """One page of an open file, not decoded yet: ``load()`` decodes it (or raises ``PageError``), and is
    valid until the next page is asked for. ``page_count`` is the number of pages of ``source``."""

    source: str
    page_number: int
    page_count: int
    load: Callable[[], Image.Image]


def iter_page_images(
    path: str | Path | bytes,
    *,
    name: str | None = None,
    dpi: int = DEFAULT_DPI,
    max_pages: int | None = None,
    max_pixels: int = DEFAULT_MAX_PAGE_PIXELS,
) -> Iterator[PageImage]:
    """The pages of ``path`` in order, each an ``L`` or ``RGB`` image; the first unreadable one raises
    ``PageError``. ``dpi`` is the resolution PDF pages are rendered at. ``path`` may be the file's bytes
    (an upload), named ``name`` in errors."""
    for page in iter_pages(path, name=name, dpi=dpi, max_pages=max_pages, max_pixels=max_pixels):
        yield PageImage(page.source, page.page_number, page.load())


def iter_pages(
    path: str | Path | bytes,
    *,
    name: str | None = None,
    dpi: int = DEFAULT_DPI,
    max_pages: int | None = None,
    max_pixels: int = DEFAULT_MAX_PAGE_PIXELS,
) -> Generator[PendingPage, None, None]:
    """The pages of ``path``, each decoded only when its ``load()`` is called, so that one bad page (over
    ``max_pixels``, damaged) raises from its own ``load()`` and the others can still be read. A problem of
    the whole file (missing, unsupported, encrypted, more than ``max_pages`` pages) raises ``PageError``
    from the iteration."""
    if dpi <= 0:
        raise ConfigError(f"dpi must be positive, got {dpi}")
    if max_pages is not None and max_pages < 1:
        raise ConfigError(f"max_pages must be at least 1, got {max_pages}")
    if max_pixels < 1:
        raise ConfigError(f"max_pixels must be at least 1, got {max_pixels}")
    document: Path | bytes
    image_file: Path | IO[bytes]
    if isinstance(path, bytes):  # an upload held in memory (the service)
        source = name or "document"
        if not path:
            raise PageError(source, "empty file (0 bytes)")
        head, document, image_file = path[:_PDF_MAGIC_WINDOW], path, io.BytesIO(path)
    else:
        source = name or str(path)
        head = _read_head(Path(path), source)
        document, image_file = Path(path), Path(path)
    if b"%PDF-" in head:
        yield from _pdf_pages(document, source, dpi, max_pages, max_pixels)
    else:
        yield from _image_pages(image_file, source, max_pages, max_pixels)


def _read_head(path: Path, source: str) -> bytes:
    if path.is_dir():
        raise PageError(source, "is a folder, not a page image or PDF")
    try:
        with path.open("rb") as file:
            head = file.read(_PDF_MAGIC_WINDOW)
    except FileNotFoundError:
        raise PageError(source, "no such file") from None
    except OSError as error:
        raise PageError(source, f"cannot read: {error.strerror or error}") from None
    if not head:
        raise PageError(source, "empty file (0 bytes)")
    return head


def _check_pixels(source: str, page_number: int, width: int, height: int, max_pixels: int, hint: str = "") -> None:
    if width < 1 or height < 1:
        raise PageError(source, f"page has no pixels ({width}x{height})", page_number)
    if width * height > max_pixels:
        raise PageLimitError(
            source,
            f"page is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}; "
            f"raise it with --max-page-pixels{hint}",
            page_number,
            limit="max_pixels",
            count=width * height,
        )


def _check_page_count(source: str, count: int, max_pages: int | None) -> None:
    if max_pages is not None and count > max_pages:
        raise PageLimitError(
            source, f"has {count:,} pages, over the limit of {max_pages:,}; raise it with --max-pages", None,
            limit="max_pages", count=count,
        )  # fmt: skip


def _image_pages(path: Path | IO[bytes], source: str, max_pages: int | None, max_pixels: int) -> Iterator[PendingPage]:
    try:
        with warnings.catch_warnings():
            # Our own limit is checked before each page is decoded; Pillow's warning would only repeat it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except UnidentifiedImageError:
        raise PageError(source, "not a page image or PDF that can be read (unknown or corrupt format)") from None
    except Image.DecompressionBombError as error:
        raise PageError(source, f"over Pillow's own size limit for images: {error}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise PageError(source, f"corrupt or truncated image data: {error}") from None
    with image:
        # Only TIFF holds pages; the frames of an animated GIF or WebP are not pages, so the first is read.
        try:
            count = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1  # walks the TIFF's page list
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise PageError(source, f"corrupt TIFF: its list of pages cannot be read: {error}") from None
        _check_page_count(source, count, max_pages)
        for index in range(count):
            yield PendingPage(source, index + 1, count, _frame_loader(image, index, source, max_pixels))


def _frame_loader(image: Image.Image, index: int, source: str, max_pixels: int) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        page_number = index + 1
        try:
            if image.tell() != index:
                image.seek(index)  # reads the frame's header, not its pixels
            _check_pixels(source, page_number, image.width, image.height, max_pixels)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                # Decodes this frame only, turned upright by its EXIF (or TIFF) orientation, as a new image.
                upright = ImageOps.exif_transpose(image) or image.copy()
            return load_image(upright, name=f"{source} page {page_number}", max_pixels=max_pixels)
        except PageError:
            raise
        except ImageError as error:
            raise PageError(source, error.reason, page_number) from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise PageError(source, f"corrupt or truncated image data: {error}", page_number) from None

    return load


def _pdf_pages(
    path: Path | bytes, source: str, dpi: int, max_pages: int | None, max_pixels: int
) -> Iterator[PendingPage]:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) == pdfium.raw.FPDF_ERR_PASSWORD or "password" in str(error).lower():
            raise PageError(
                source, "the PDF is encrypted with a password; decrypt it first (e.g. qpdf --decrypt)"
            ) from None
        raise PageError(source, f"not a PDF that can be read: {error}") from None
    try:
        count = len(document)
        _check_page_count(source, count, max_pages)
        if count == 0:
            raise PageError(source, "the PDF has no pages")
        for index in range(count):
            yield PendingPage(source, index + 1, count, _pdf_page_loader(document, index, source, dpi, max_pixels))
    finally:
        document.close()


def _pdf_page_loader(document: object, index: int, source: str, dpi: int, max_pixels: int) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import pypdfium2 as pdfium

        page_number = index + 1
        scale = dpi / _POINTS_PER_INCH
        try:
            page = document[index]  # type: ignore[index]
        except pdfium.PdfiumError as error:
            raise PageError(source, f"cannot open the page: {error}", page_number) from None
        try:
            width_pt, height_pt = page.get_size()
            # The size PDFium renders at (ceil of points x scale), checked before a pixel is drawn.
            width, height = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
            _check_pixels(source, page_number, width, height, max_pixels, f" or lower --dpi (now {dpi})")
            try:
                bitmap = page.render(scale=scale, rev_byteorder=True)
                rendered = bitmap.to_pil()
            except pdfium.PdfiumError as error:
                raise PageError(source, f"cannot render the page: {error}", page_number) from None
            try:
                return load_image(rendered, name=f"{source} page {page_number}", max_pixels=max_pixels)
            except ImageError as error:
                raise PageError(source, error.reason, page_number) from None
        finally:
            page.close()

    return load
