"""``POST /v1/read``: one document (a page image, a multi-page TIFF or a PDF) read page by page with
``page.PageReader``, one document at a time, within the request's time budget.

The pages are read in a worker thread by a ``Recognizer`` made for the request (so their lines go through
``inference.recognize_window``, as ``crnn read``'s do) from the service's engine (the batcher's thread shares
it: ONNX Runtime sessions and PyTorch inference may be called from two threads) and the request's decoder.
"""

from __future__ import annotations

import threading
import time

import anyio
import numpy as np
from starlette.responses import PlainTextResponse, Response

from ..api import Recognizer
from ..decode import Decoder
from ..errors import PageError
from ..page.formats import page_to_dict, page_to_text, pages_to_hocr
from ..page.load import PageLimitError, iter_pages
from ..page.reader import PageOptions, PageReader
from ..page.types import Page
from ..runtime import Engine
from .config import ServeConfig
from .errors import ImageProblem, ServeError
from .metrics import ServeMetrics
from .payload import ReadOptions, Upload
from .schemas import PageResult, ReadResponse

# Between pages of text, as `crnn read`, Tesseract and pdftotext separate them.
PAGE_SEPARATOR = "\f"


class _DeadlineEngine:
    """The service's engine, refusing to start a forward pass once the request's time budget is spent: the
    thread of a request already answered with 503 stops at its next batch of lines, not at its last page."""

    def __init__(self, engine: Engine, deadline: float) -> None:
        self.engine = engine
        self.name = engine.name
        self.deadline = deadline

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _check_time(self.deadline)
        return self.engine.run(batch, widths)


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError("the request's time budget is spent")


class PageService:
    """Reads the documents of ``POST /v1/read``, one at a time: a page already takes every core the engine
    is given, and the batcher keeps serving ``/v1/recognize`` beside it."""

    def __init__(self, config: ServeConfig, recognizer: Recognizer, metrics: ServeMetrics) -> None:
        self.config = config
        self.recognizer = recognizer
        self.metrics = metrics
        self._limiter: anyio.CapacityLimiter | None = None
        # The limiter is given back when a request's time runs out, while its abandoned thread finishes its
        # current batch of lines; this lock keeps that thread and the next document's apart.
        self._lock = threading.Lock()

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # created inside the event loop
            self._limiter = anyio.CapacityLimiter(1)
        return self._limiter

    async def read(self, upload: Upload, options: ReadOptions, decoder: Decoder, deadline: float) -> list[Page]:
        return await anyio.to_thread.run_sync(
            self._read, upload, options, decoder, deadline, limiter=self.limiter, abandon_on_cancel=True
        )

    def _read(self, upload: Upload, options: ReadOptions, decoder: Decoder, deadline: float) -> list[Page]:
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError("the request's time budget is spent")
        try:
            return self._read_pages(upload, options, decoder, deadline)
        finally:
            self._lock.release()

    def _read_pages(self, upload: Upload, options: ReadOptions, decoder: Decoder, deadline: float) -> list[Page]:
        config = self.config
        engine = _DeadlineEngine(self.recognizer.engine, deadline)
        recognizer = Recognizer(self.recognizer.info, engine, decoder, max_pixels=config.max_page_pixels)
        page_options = PageOptions(
            max_pixels=config.max_page_pixels,
            deskew=options.deskew,
            orientation=options.orientation,
            check_spaces=options.check_spaces,
        )
        reader = PageReader(recognizer, page_options)
        pages: list[Page] = []
        pending_pages = iter_pages(
            upload.data, name=upload.name, dpi=config.page_dpi, max_pages=config.max_pages,
            max_pixels=config.max_page_pixels,
        )  # fmt: skip
        try:
            for pending in pending_pages:
                _check_time(deadline)
                pages.append(reader.read(pending.load(), source=upload.name, page_number=pending.page_number))
                self.metrics.pages.inc()
        except PageLimitError as error:
            raise self._too_large(error, is_pdf=b"%PDF-" in upload.data[:1024]) from None
        except PageError as error:
            problem = ImageProblem(0, upload.name, str(error))
            raise ServeError(422, "bad_document", f"the document cannot be read: {error}", [problem]) from None
        finally:
            pending_pages.close()  # a PDF's document is closed now, not when the generator is collected
        return pages

    def _too_large(self, error: PageLimitError, is_pdf: bool) -> ServeError:
        config = self.config
        if error.limit == "max_pages":
            return ServeError(
                413, "too_many_pages",
                f"{error.source} has {error.count:,} pages, over this service's limit of {config.max_pages:,} a "
                "request (--max-pages); send the pages in several requests",
            )  # fmt: skip
        rendered = f"; PDF pages are rendered at {config.page_dpi} dpi (--page-dpi)" if is_pdf else ""
        return ServeError(
            413, "page_too_large",
            f"{error.source} page {error.page_number} has {error.count:,} pixels, over this service's limit of "
            f"{config.max_page_pixels:,} a page (--max-page-pixels){rendered}; send a smaller scan",
        )  # fmt: skip


def read_answer(pages: list[Page], upload: Upload, options: ReadOptions, total_s: float) -> Response | ReadResponse:
    """The answer in the format asked for: JSON (``ReadResponse``), hOCR or plain text."""
    if options.format == "hocr":
        return Response(pages_to_hocr(pages, title=upload.name), media_type="application/xhtml+xml")
    if options.format == "text":
        return PlainTextResponse(PAGE_SEPARATOR.join(page_to_text(page) for page in pages))
    results = [PageResult.model_validate(page_to_dict(page)) for page in pages]
    return ReadResponse(
        pages=results, text=PAGE_SEPARATOR.join(page.text for page in pages), decoder=options.decoder,
        total_ms=round(total_s * 1000, 3),
    )  # fmt: skip
