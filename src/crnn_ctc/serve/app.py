"""The FastAPI application: routes, error answers, and the ``Service`` that reads, batches and decodes
images, and reads whole pages (``pages.PageService``).

No recognition logic lives here: images go through ``preprocess`` with the model's own parameters, the
network through the recognizer's engine (``Batcher``), and the text through ``decode``'s decoders.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from .._version import __version__
from ..api import Recognizer
from ..bundle import read_description
from ..decode import DECODERS, AutoDecoder, Decoded, Decoder, DecoderOptions, make_decoder
from ..errors import CrnnError
from ..preprocess import preprocess
from .batcher import Batcher, BatchResult
from .config import ServeConfig
from .errors import ImageProblem, ServeError, describe_problems, error_body, error_response, status_code_name
from .limits import BodyLimitMiddleware
from .metrics import MetricsMiddleware, ServeMetrics
from .pages import PageService, read_answer
from .payload import RecognizeOptions, Upload, check_options, read_page_request, read_recognize_request
from .schemas import (
    ERROR_RESPONSES,
    OPENAPI_COMPONENTS,
    READ_ERROR_RESPONSES,
    READ_OPENAPI,
    RECOGNIZE_OPENAPI,
    Health,
    ImageResult,
    ImageTiming,
    ModelDescription,
    ReadResponse,
    RecognizeResponse,
)
from .timeouts import CLIENT_TIMEOUT_STATE

log = logging.getLogger("crnn_ctc.serve")

STATIC_DIR = Path(__file__).parent / "static"
CONFIG_ENV = "CRNN_SERVE_CONFIG"
_DECODER_CACHE_SIZE = 16


def engine_precision(engine: object) -> str:
    """``fp32``, or ``int8 (static)`` / ``int8 (dynamic)`` for an ONNX graph that ``crnn export --int8`` wrote."""
    from ..runtime.metadata import QUANTIZATION_KEY

    session = getattr(engine, "session", None)
    if session is None:
        return "fp32"
    quantization = session.get_modelmeta().custom_metadata_map.get(QUANTIZATION_KEY)
    # The fp32 graph records "fp32" as its quantisation (``crnn export`` without --int8).
    return f"int8 ({quantization})" if quantization and quantization != "fp32" else "fp32"


def load_recognizer(config: ServeConfig) -> Recognizer:
    return Recognizer.load(
        config.model, model_dir=config.model_dir, backend=config.backend, device=config.device,
        threads=config.threads, max_pixels=config.max_pixels,
        # Greedy by default: auto's beam search for unsure images, run on the service's small batches, cut
        # the throughput at concurrency 32 from 0.87 to 0.53 of the backend's (docs/serving.md).
        decoder="greedy",
    )  # fmt: skip


class Service:
    """What the routes share: the recognizer, the batcher, the metrics, and a cache of per-request decoders."""

    def __init__(self, config: ServeConfig, recognizer: Recognizer, metrics: ServeMetrics) -> None:
        self.config = config
        self.recognizer = recognizer
        self.metrics = metrics
        self.batcher = Batcher(
            recognizer.engine, recognizer.decoder, max_batch=config.max_batch, wait_s=config.batch_wait_ms / 1000,
            max_queue=config.max_queue, metrics=metrics,
        )  # fmt: skip
        # Decoding and resizing uploads runs in threads; at most one per core at a time bounds the memory
        # that large (up to --max-pixels) images can take.
        self.preprocess_slots = os.cpu_count() or 2
        self._limiter: anyio.CapacityLimiter | None = None
        self._decoder = functools.lru_cache(maxsize=_DECODER_CACHE_SIZE)(self._build_decoder)
        self.pages = PageService(config, recognizer, metrics)

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # created inside the event loop
            self._limiter = anyio.CapacityLimiter(self.preprocess_slots)
        return self._limiter

    async def recognize(self, request: Request) -> RecognizeResponse:
        started = time.perf_counter()
        uploads, options = await read_recognize_request(request, self.config.max_images)
        options = check_options(options, self.config)
        budget = self.config.request_timeout_s
        try:
            with anyio.fail_after(budget):
                return await self._recognize(uploads, options, started, time.monotonic() + budget)
        except TimeoutError:
            raise ServeError(
                503, "timeout",
                f"the request's work took longer than {budget:g} s (--request-timeout-s) and was stopped; send fewer "
                "images, a smaller lexicon or a lower max_edit_distance",
            ) from None  # fmt: skip

    async def read(self, request: Request) -> Response | ReadResponse:
        """``POST /v1/read``: one document's pages, read in one worker thread within the time budget."""
        started = time.perf_counter()
        upload, options = await read_page_request(request)
        options = check_options(options, self.config)
        budget = self.config.request_timeout_s
        try:
            with anyio.fail_after(budget):
                deadline = time.monotonic() + budget
                decoder = self.recognizer.decoder
                if not options.is_default:
                    decoder = await anyio.to_thread.run_sync(
                        self._decoder, options.decoder_key(), abandon_on_cancel=True
                    )
                pages = await self.pages.read(upload, options, decoder, deadline)
        except TimeoutError:
            raise ServeError(
                503, "timeout",
                f"reading the document took longer than {budget:g} s (--request-timeout-s) and was stopped; send "
                "fewer or smaller pages",
            ) from None  # fmt: skip
        return read_answer(pages, upload, options, time.perf_counter() - started)

    async def _recognize(
        self, uploads: list[Upload], options: RecognizeOptions, started: float, deadline: float
    ) -> RecognizeResponse:
        """The work of a request. Threads the time budget abandons stop at their next image (``deadline``)."""
        decoder = None
        if not options.is_default:
            decoder = await anyio.to_thread.run_sync(self._decoder, options.decoder_key(), abandon_on_cancel=True)
        arrays, seconds = await anyio.to_thread.run_sync(
            self._prepare, uploads, deadline, limiter=self.limiter, abandon_on_cancel=True
        )
        names = [upload.name for upload in uploads]
        results = await self.batcher.submit(arrays, names, decode=decoder is None)
        decoded: list[Decoded | None]
        if decoder is None:
            decoded = [result.decoded for result in results]
            decode_seconds = [result.decode_s for result in results]
        elif isinstance(decoder, AutoDecoder) and decoder.wider is not None:
            decoded, decode_seconds = await self._auto_reading_wider(decoder, uploads, results, deadline)
        else:
            decoded, decode_seconds = await anyio.to_thread.run_sync(
                _decode_each, decoder, results, names, deadline, abandon_on_cancel=True
            )
        rows = zip(names, decoded, results, seconds, decode_seconds, strict=True)
        answers = [_answer(index, *row) for index, row in enumerate(rows)]
        return RecognizeResponse(results=answers, decoder=options.decoder, total_ms=_ms(time.perf_counter() - started))

    async def _auto_reading_wider(
        self, auto: AutoDecoder, uploads: list[Upload], results: list[BatchResult], deadline: float
    ) -> tuple[list[Decoded | None], list[float]]:
        """``auto`` as ``inference.recognize_window`` runs it: greedy readings, the unsure images read again
        ``auto.wider`` times wider through the batcher, then ``AutoDecoder.settle``. The second look's time
        is shared among the images it was for."""
        names = [upload.name for upload in uploads]
        readings, seconds = await anyio.to_thread.run_sync(
            _decode_each, auto.greedy, results, names, deadline, abandon_on_cancel=True
        )
        unsure = {i: read for i, read in enumerate(readings) if read is not None and auto.unsure(read)}
        if not unsure or auto.wider is None:
            return readings, seconds
        started = time.perf_counter()
        scale: float = auto.wider
        indices = list(unsure)
        arrays, _ = await anyio.to_thread.run_sync(
            self._prepare, [uploads[i] for i in indices], deadline, scale, limiter=self.limiter, abandon_on_cancel=True
        )
        again = await self.batcher.submit(arrays, [names[i] for i in indices], decode=False)
        second, _ = await anyio.to_thread.run_sync(
            _decode_each, auto.greedy, again, [names[i] for i in indices], deadline, abandon_on_cancel=True
        )
        wider = {i: (read, _steps(result)) for i, read, result in zip(indices, second, again, strict=True) if read}
        rows = {i: _steps(results[i]) for i in indices}
        await anyio.to_thread.run_sync(
            auto.settle, unsure, rows, wider, {i: names[i] for i in indices}, abandon_on_cancel=True
        )
        share = (time.perf_counter() - started) / len(indices)
        for i, read in unsure.items():
            readings[i] = read
            seconds[i] += share
        return readings, seconds

    def _build_decoder(self, key: tuple[str, DecoderOptions]) -> Decoder:
        name, options = key
        try:
            return make_decoder(name, self.recognizer.charset, options)
        except (ValueError, CrnnError) as error:
            raise ServeError(422, "invalid_options", f"invalid decoding options: {error}") from None

    def _prepare(
        self, uploads: list[Upload], deadline: float, width_scale: float = 1.0
    ) -> tuple[list[np.ndarray], list[float]]:
        """Every upload preprocessed (``width_scale`` times wider: ``auto``'s second reading), or a 422 naming
        each one that cannot be (the whole request fails)."""
        arrays: list[np.ndarray] = []
        seconds: list[float] = []
        problems: list[ImageProblem] = []
        config, max_pixels = self.recognizer.preprocess_config, self.config.max_pixels
        for index, upload in enumerate(uploads):
            _check_time(deadline)
            started = time.perf_counter()
            try:
                arrays.append(
                    preprocess(upload.data, config, name=upload.name, max_pixels=max_pixels, width_scale=width_scale)
                )
            except CrnnError as error:  # ImageError: empty, not an image, truncated, too many pixels...
                problems.append(ImageProblem(index, upload.name, getattr(error, "reason", str(error))))
            except Exception as error:  # a decoder bug must not take the service down: refuse this image
                log.exception("unexpected error reading %s", upload.name)
                problems.append(ImageProblem(index, upload.name, f"cannot be read: {type(error).__name__}: {error}"))
            seconds.append(time.perf_counter() - started)
        if problems:
            raise ServeError(422, "bad_image", describe_problems(problems, len(uploads)), problems)
        return arrays, seconds

    def describe(self) -> ModelDescription:
        info = self.recognizer.info
        description: dict[str, Any] = {}
        if info.path is not None and info.path.suffix == ".safetensors":
            description = read_description(info.path)
        elif hasattr(self.recognizer.engine, "description"):
            description = self.recognizer.engine.description()
        config = self.config
        return ModelDescription(
            file=info.path.name if info.path is not None else "",
            architecture=info.config.arch,
            charset="".join(info.charset.symbols),
            num_classes=info.charset.num_classes,
            parameters=info.config.to_dict(),
            preprocess=info.preprocess.to_dict(),
            provenance=info.provenance,
            format_version=description.get("format_version"),
            crnn_ctc_version=__version__,
            backend=self.recognizer.engine.name,
            precision=engine_precision(self.recognizer.engine),
            decoders=list(DECODERS),
            limits=config.limits(),
        )  # fmt: skip


def _check_time(deadline: float) -> None:
    """Stop a thread's work for a request whose time budget is spent (its answer is already a 503)."""
    if time.monotonic() > deadline:
        raise TimeoutError("the request's time budget is spent")


def _steps(result: BatchResult) -> np.ndarray:
    """An image's log-probs over its steps, (steps, classes), as the batcher returned them undecoded."""
    assert result.log_probs is not None
    return result.log_probs[0]


def _decode_each(
    decoder: Decoder, results: list[BatchResult], names: list[str], deadline: float
) -> tuple[list[Decoded | None], list[float]]:
    decoded: list[Decoded | None] = []
    seconds: list[float] = []
    for result, name in zip(results, names, strict=True):
        _check_time(deadline)
        assert result.log_probs is not None
        started = time.perf_counter()
        lengths = np.array([result.log_probs.shape[1]], dtype=np.int64)
        decoded.append(decoder.decode(result.log_probs, lengths, names=[name])[0])
        seconds.append(time.perf_counter() - started)
    return decoded, seconds


def _answer(
    index: int, name: str, decoded: Decoded | None, result: BatchResult, preprocess_s: float, decode_s: float
) -> ImageResult:
    assert decoded is not None
    return ImageResult(
        index=index, name=name, text=decoded.text, confidence=round(decoded.confidence, 6),
        char_probs=[round(p, 6) for p in decoded.char_probs], flagged=decoded.flagged, batch_size=result.batch_size,
        timing_ms=ImageTiming(
            preprocess_ms=_ms(preprocess_s), queue_ms=_ms(result.queued_s), inference_ms=_ms(result.forward_s),
            decode_ms=_ms(decode_s),
        ),
    )  # fmt: skip


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def create_app(config: ServeConfig, recognizer: Recognizer | None = None) -> FastAPI:
    """The service for ``config``; loads the model now (so a bad model file fails before listening)."""
    recognizer = recognizer or load_recognizer(config)
    metrics = ServeMetrics()
    service = Service(config, recognizer, metrics)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        service.batcher.start()
        try:
            yield {CLIENT_TIMEOUT_STATE: config.client_timeout_s}  # read by each connection (timeouts.py)
        finally:
            service.batcher.stop()

    app = FastAPIOffline(
        title="crnn-ctc",
        version=__version__,
        description="Text recognition in cropped word and line images (CRNN + CTC), and in whole pages. "
        "See docs/serving.md.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(
        BodyLimitMiddleware, limit=config.max_body_bytes, metrics=metrics, read_timeout_s=config.client_timeout_s
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: counts every answer, 413s included
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _add_error_handlers(app, metrics)
    _add_routes(app, service, metrics, page)
    _add_openapi_components(app)
    return app


def _add_error_handlers(app: FastAPI, metrics: ServeMetrics) -> None:
    """Every failure answers with the one JSON error shape (``errors.py``) and is counted by its code."""

    def refuse(error: ServeError) -> JSONResponse:
        metrics.errors.labels(error.code).inc()
        return error_response(error)

    @app.exception_handler(ServeError)
    async def on_serve_error(request: Request, error: ServeError) -> JSONResponse:
        return refuse(error)

    @app.exception_handler(HTTPException)
    async def on_http_error(request: Request, error: HTTPException) -> JSONResponse:
        status = error.status_code
        return refuse(ServeError(status, status_code_name(status), str(error.detail), headers=error.headers))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return refuse(ServeError(422, "invalid_request", f"invalid request: {error.errors()}"))

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        metrics.errors.labels("internal_error").inc()
        message = f"internal error ({type(error).__name__}); the service keeps running, see its log"
        return JSONResponse(error_body(500, "internal_error", message), 500)


def _add_routes(app: FastAPI, service: Service, metrics: ServeMetrics, page: str) -> None:
    """The web page, health, model description, metrics, and the two reading endpoints."""

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> Any:
        """Whether the service can answer: the inference worker is alive."""
        health = Health(status="ok", queued_images=service.batcher.queued, worker_pid=os.getpid())
        if not service.batcher.alive:
            health.status = "inference worker stopped"
            return JSONResponse(health.model_dump(), 503)
        return health

    @app.get("/v1/model", response_model=ModelDescription)
    async def model() -> ModelDescription:
        """The model served: charset, architecture, preprocessing, versions, backend and the service's limits."""
        return service.describe()

    @app.get("/metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        """Prometheus text format: requests, errors, latency, batch sizes, queue wait and inference time."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post(
        "/v1/recognize", response_model=RecognizeResponse, responses=ERROR_RESPONSES, openapi_extra=RECOGNIZE_OPENAPI
    )
    async def recognize(request: Request) -> RecognizeResponse:
        """Read the text in one or more images: multipart files, or JSON with base64 images.

        Every image must be usable: if one is not, the request fails with 422 naming each bad image
        (index, name, reason), and no image is recognized. Images of concurrent requests share forward passes.
        """
        return await service.recognize(request)

    @app.post("/v1/read", response_model=ReadResponse, responses=READ_ERROR_RESPONSES, openapi_extra=READ_OPENAPI)
    async def read(request: Request) -> Response | ReadResponse:
        """Read a whole page: its text lines found and read in reading order, with boxes and confidences.

        One document a request (a multipart file, or JSON with a base64 ``image``): a page image (PNG, JPEG,
        TIFF, multi-page TIFF) or a PDF. ``format`` chooses JSON (default), hOCR or plain text.
        """
        return await service.read(request)


def _add_openapi_components(app: FastAPI) -> None:
    """The OpenAPI schema with the models that the hand-written request bodies refer to (``schemas.py``)."""
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default_openapi()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(OPENAPI_COMPONENTS)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_environment() -> FastAPI:
    """The app for one of several worker processes (``--workers N``): the config comes in ``CRNN_SERVE_CONFIG``."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start worker processes through `crnn serve --workers N`")
    return create_app(ServeConfig.from_json(text))
