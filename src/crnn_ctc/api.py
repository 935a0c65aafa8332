"""``Recognizer``: the public Python API. Preprocess -> engine -> decoder, each replaceable."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from .bundle import MODEL_SUFFIX, ModelBundle, ModelInfo, load_bundle, model_info, read_model_info, resolve_model_path
from .charset import Charset
from .decode import Decoder, DecoderOptions, make_decoder
from .errors import ConfigError, ImageError
from .inference import recognize_window
from .preprocess import DEFAULT_MAX_PIXELS, ImageInput, PreprocessConfig, describe_source
from .runtime import Engine, OnnxEngine, create_engine, set_threads
from .runtime.tempered import TemperedEngine

if TYPE_CHECKING:
    from .page import Page
    from .page.reader import PageOptions

# Images preprocessed ahead of the network, in batches: grouping this window by width keeps
# padding small while memory stays bounded for any number of inputs.
_WINDOW_BATCHES = 4


@dataclass(frozen=True)
class Prediction:
    """What the recognizer read in one image. ``error`` is set (and ``text`` empty) if it could not be read.

    ``confidence`` is P(text | image) (docs/confidence.md); ``flagged`` is set when the lexicon decoder
    found no lexicon word and returned the greedy text; ``positions`` (when asked for) is each character's
    place along the image, as a share of its width.
    """

    text: str
    confidence: float
    char_probs: tuple[float, ...] = ()
    source: str = ""
    error: str | None = None
    flagged: bool = False
    positions: tuple[float, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


def _is_single_image(images: object) -> bool:
    return isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray))


class Recognizer:
    """Recognizes text in cropped word or line images (and whole pages) with one model file.

    Build one with ``Recognizer.load`` (the bundled model when no path is given); it holds the model's
    preprocessing, an engine (ONNX Runtime or PyTorch) and a decoder, and is safe to reuse.

    Example::

        from crnn_ctc import Recognizer
        from crnn_ctc.bundle import BUNDLED_MODEL

        recognizer = Recognizer.load()                     # the bundled model, the fastest backend here
        samples = sorted((BUNDLED_MODEL.parent / "samples").glob("*.png"))
        for prediction in recognizer.recognize(samples):
            print(prediction.source, prediction.text, round(prediction.confidence, 3))
    """

    def __init__(
        self,
        model: ModelBundle | ModelInfo,
        engine: Engine,
        decoder: Decoder,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        """``model``: the loaded bundle, or only its ``ModelInfo`` (an ``.onnx`` file has no PyTorch model,
        and an engine under ONNX Runtime needs none: ``bundle`` then loads it on first use)."""
        self._bundle = model if isinstance(model, ModelBundle) else None
        self.info = model.info if isinstance(model, ModelBundle) else model
        self.engine = engine
        self.decoder = decoder
        self.max_pixels = max_pixels

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        model_dir: str | Path | None = None,
        backend: str = "auto",
        device: str = "auto",
        threads: int | None = None,
        decoder: str = "auto",
        decoder_options: DecoderOptions | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> Recognizer:
        """Load a model file (or the newest in ``model_dir``, or the bundled model when neither is given).

        ``decoder``: ``auto`` (greedy, and beam search with the English word prior where the model is unsure),
        ``greedy``, ``beam`` or ``lexicon``; ``decoder_options`` sets beam width, lexicon, per-image lexicons,
        maximum edit distance, allowed/blocked symbols and the word prior (``DecoderOptions``).
        """
        set_threads(threads)
        model_path = resolve_model_path(path, model_dir)
        info: ModelInfo
        engine: Engine
        if model_path.suffix == ".onnx":  # an exported file carries its config: no PyTorch model needed
            if backend == "torch":
                raise ConfigError(f"{model_path} is an ONNX model: use --backend onnx (or auto)")
            onnx_engine = OnnxEngine(model_path, threads=threads)
            info, engine = model_info(onnx_engine.description(), model_path), onnx_engine
        else:
            # The config alone: the engine loads the network (and PyTorch) only if it runs it or must export it.
            info = read_model_info(model_path)
            engine = create_engine(info, backend, device, threads)
        if info.temperature != 1.0:  # the model file's calibration (calibration.py), for every backend
            engine = TemperedEngine(engine, info.temperature)
        return cls(info, engine, make_decoder(decoder, info.charset, decoder_options), max_pixels=max_pixels)

    @property
    def bundle(self) -> ModelBundle | None:
        """The model file with its PyTorch network; None for an ``.onnx`` file. Where the engine runs
        without PyTorch, loaded (importing PyTorch) on first use; the torch engine's own network otherwise."""
        if self._bundle is None and self.info.path is not None and self.info.path.suffix == MODEL_SUFFIX:
            network = getattr(self.engine, "model", None)  # the torch engine's (through a TemperedEngine too)
            if network is not None:
                info = self.info
                self._bundle = ModelBundle(network, info.charset, info.preprocess, info.provenance, info.path,
                                           info.calibration)  # fmt: skip
            else:
                self._bundle = load_bundle(self.info.path)
        return self._bundle

    @property
    def charset(self) -> Charset:
        return self.info.charset

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.info.preprocess

    def recognize(self, images: ImageInput | Iterable[ImageInput], batch_size: int = 32) -> list[Prediction]:
        """Predictions for ``images`` (one image or many), in order. A bad image raises ``ImageError``."""
        if _is_single_image(images):
            images = [images]  # type: ignore[list-item]
        return list(self.iter_recognize(images, batch_size=batch_size, errors="raise"))  # type: ignore[arg-type]

    def iter_recognize(
        self,
        images: Iterable[ImageInput],
        batch_size: int = 32,
        errors: Literal["raise", "report"] = "raise",
        names: Iterable[str] | None = None,
        positions: bool = False,
    ) -> Iterator[Prediction]:
        """Stream predictions in input order. With ``errors="report"`` a bad image yields a
        ``Prediction`` whose ``error`` says why, and the others are still recognized. ``positions``: each
        prediction also says where its characters lie along the image (``Prediction.positions``)."""
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if errors not in ("raise", "report"):
            raise ConfigError(f"errors must be 'raise' or 'report', got {errors!r}")
        labelled = zip(images, names, strict=True) if names is not None else ((image, None) for image in images)
        counter = itertools.count()
        while True:
            window = list(itertools.islice(labelled, batch_size * _WINDOW_BATCHES))
            if not window:
                return
            yield from self._recognize_window(window, counter, batch_size, errors, positions)

    def _recognize_window(
        self,
        window: Sequence[tuple[ImageInput, str | None]],
        counter: Iterator[int],
        batch_size: int,
        errors: Literal["raise", "report"],
        positions: bool = False,
    ) -> list[Prediction]:
        inputs = [(image, name or describe_source(image, next(counter))) for image, name in window]
        outcomes = recognize_window(
            self.engine, self.decoder, inputs, self.info.preprocess, batch_size=batch_size,
            max_pixels=self.max_pixels, errors=errors, positions=positions,
        )  # fmt: skip
        predictions = []
        for (_, source), outcome in zip(inputs, outcomes, strict=True):
            if isinstance(outcome, ImageError):
                predictions.append(Prediction("", 0.0, (), source, outcome.reason))
            else:
                predictions.append(
                    Prediction(
                        outcome.text,
                        outcome.confidence,
                        outcome.char_probs,
                        source,
                        flagged=outcome.flagged,
                        positions=outcome.positions,
                    )
                )
        return predictions

    def read_page(
        self,
        image: ImageInput,
        *,
        options: PageOptions | None = None,
        source: str = "",
        page_number: int = 1,
    ) -> Page:
        """Read a whole page image (a scan, a photo of a document, a screenshot): its blocks, lines and words
        in reading order, with boxes and confidences (``crnn_ctc.page``). Every decoder option applies."""
        from .page.reader import PageOptions, PageReader
        from .preprocess import load_image

        options = options or PageOptions()
        if not isinstance(image, Image.Image):
            image = load_image(image, name=source or None, max_pixels=options.max_pixels)
        return PageReader(self, options).read(image, source=source, page_number=page_number)

    def read_document(
        self,
        path: str | Path,
        *,
        options: PageOptions | None = None,
        dpi: int = 300,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Read every page of a file in order: an image, a multi-page TIFF, or a PDF rendered at ``dpi``.
        A page that cannot be read raises ``PageError`` naming the file and the page."""
        from .page.load import iter_page_images
        from .page.reader import PageOptions, PageReader

        options = options or PageOptions()
        reader = PageReader(self, options)
        for page in iter_page_images(path, dpi=dpi, max_pages=max_pages, max_pixels=options.max_pixels):
            yield reader.read(page.image, source=page.source, page_number=page.page_number)
