"""Reading a ``POST /v1/recognize`` or ``POST /v1/read`` request: multipart files or JSON with base64 images,
plus decoding (and page) options. Everything wrong with a request becomes a ``ServeError`` saying what, and
for images which one."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from ..decode import GREEDY_ABOVE, WIDER, DecoderOptions, chosen_decoder
from .config import ServeConfig
from .errors import ImageProblem, ServeError, describe_problems

# Form parts a multipart request may carry besides its images; bounded far below the body limit.
_MAX_FORM_FIELDS = 64
JSON_TYPES = ("application/json",)
MULTIPART_TYPE = "multipart/form-data"
_JSONBody = TypeVar("_JSONBody", bound=BaseModel)
_Options = TypeVar("_Options", bound="RecognizeOptions")
DecoderName = Literal["auto", "greedy", "beam", "lexicon"]


@dataclass(frozen=True)
class Upload:
    """One image file as received: its name in answers and messages, and its encoded bytes."""

    name: str
    data: bytes


class RecognizeOptions(BaseModel):
    """How to turn the network's output into text (docs/confidence.md). The defaults use the shared batch decode."""

    model_config = ConfigDict(extra="forbid")

    decoder: DecoderName = Field(
        "greedy",
        description="greedy (best path), auto (greedy where the model is sure, beam search with the English word "
        "prior where it is not: crnn predict's default), beam (CTC prefix beam search) or lexicon (the CRNN "
        "paper's search)",
    )
    beam_width: int = Field(10, ge=1, le=100, description="beam search width")
    lexicon: list[str] | None = Field(
        None, description="words the lexicon decoder may answer with (multipart: one per line, or repeated fields)"
    )
    max_edit_distance: int = Field(
        3, ge=0, description="lexicon words searched: within this many edits (at most --max-edit-distance)"
    )
    allow: str | None = Field(None, description="read only these symbols")
    block: str | None = Field(None, description="never read these symbols")
    word_prior: Literal["wordfreq"] | None = Field(
        None, description="beam search prefers real words: wordfreq (English word frequencies); implies decoder beam"
    )
    prior_weight: float | None = Field(None, ge=0, le=10, description="how much the word prior counts (default 0.4)")
    prior_bonus: float | None = Field(None, ge=-10, le=10, description="the word prior's bonus per word (default 2)")
    greedy_above: float = Field(
        GREEDY_ABOVE, ge=0, le=1,
        description="the auto decoder keeps greedy readings of at least this confidence, reads the others again",
    )  # fmt: skip
    wider: float = Field(
        WIDER, ge=1, le=4, description="the auto decoder first reads those others this much wider too (1: not)"
    )

    # Pages are read with ``auto`` (as ``crnn read``), images with greedy decoding (the batcher's).
    reads_pages: ClassVar[bool] = False

    @model_validator(mode="after")
    def _decoder_from_what_is_named(self) -> RecognizeOptions:
        """Without a decoder named, a lexicon means the lexicon decoder and a word prior beam search (as on
        the command line: ``decode.chosen_decoder``), and nothing the endpoint's default."""
        named = self.decoder if "decoder" in self.model_fields_set else None
        default = "auto" if self.reads_pages else "greedy"
        prior, lexicon = self.word_prior is not None, bool(self.lexicon)
        self.decoder = cast(DecoderName, chosen_decoder(named, lexicon=lexicon, word_prior=prior, default=default))
        return self

    @property
    def is_default(self) -> bool:
        """Whether these options build the service's own decoder (greedy), which the batcher runs for every
        default request in one call."""
        return self.decoder_key() == ("greedy", DecoderOptions())

    def decoder_key(self) -> tuple[str, DecoderOptions]:
        """The decoder these options build: its name and its (hashable) options, the key of the service's
        decoder cache. An empty ``allow``, ``block`` or ``lexicon`` means none."""
        options = DecoderOptions(
            beam_width=self.beam_width, lexicon=self.lexicon or None, max_edit_distance=self.max_edit_distance,
            allow=self.allow or None, block=self.block or None, word_prior=self.word_prior,
            prior_weight=self.prior_weight, prior_bonus=self.prior_bonus, greedy_above=self.greedy_above,
            wider=self.wider,
        )  # fmt: skip
        return self.decoder, options


class ImagePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="the image file (PNG, JPEG, TIFF, ...) in base64; a data: URL works too")
    name: str | None = Field(None, description="a name to report the image by (default: images[INDEX])")


class ReadOptions(RecognizeOptions):
    """``POST /v1/read``: the decoding options, and how to read the page and answer. With no decoder, word
    prior or lexicon named, a page is read with ``auto`` (its wider reading and the English word prior where
    the model is unsure), as ``crnn read`` does; ``decoder=greedy`` reads it greedily."""

    reads_pages: ClassVar[bool] = True

    deskew: bool = Field(True, description="straighten a page turned by up to 10 degrees before finding its lines")
    orientation: bool = Field(True, description="turn a page lying on its side or upside down upright first")
    check_spaces: bool = Field(True, description="check the spaces read against the gaps in each line's ink")
    format: Literal["json", "hocr", "text"] = Field(
        "json", description="json (pages, blocks, lines, words, boxes), hocr (hOCR 1.2 XHTML) or text (plain)"
    )


class ReadJSON(ReadOptions):
    """``application/json`` body of ``POST /v1/read``."""

    image: ImagePayload | str = Field(
        description="the document: a page image (PNG, JPEG, TIFF, multi-page TIFF) or a PDF, in base64, as an "
        "object with ``data`` (and an optional ``name``) or a bare base64 string"
    )


class RecognizeJSON(RecognizeOptions):
    """``application/json`` body of ``POST /v1/recognize``."""

    images: list[ImagePayload | str] = Field(
        description="the images: objects with base64 ``data`` (and an optional ``name``), or bare base64 strings"
    )


async def read_recognize_request(request: Request, max_images: int) -> tuple[list[Upload], RecognizeOptions]:
    """The images and options of a recognize request, or a ``ServeError`` (400, 413, 415, 422)."""
    media_type = _media_type(request)
    try:
        if media_type == MULTIPART_TYPE:
            uploads, options = await _read_multipart(request, max_images)
        elif _is_json(media_type):
            uploads, options = await _read_json(request, max_images)
        else:
            given = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
            raise ServeError(
                415,
                "unsupported_media_type",
                f"{given} is not accepted: send the images as multipart/form-data files, "
                "or as application/json with base64 images",
            )
    except ClientDisconnect:
        raise ServeError(400, "client_disconnected", "the client closed the connection mid-request") from None
    if not uploads:
        raise ServeError(400, "no_images", "the request holds no image: add at least one file (or JSON images entry)")
    return uploads, options


async def read_page_request(request: Request) -> tuple[Upload, ReadOptions]:
    """The one document (page image or PDF) of a ``POST /v1/read`` request and its options, or a
    ``ServeError`` (400, 415, 422)."""
    media_type = _media_type(request)
    try:
        if media_type == MULTIPART_TYPE:
            uploads, options = await _read_multipart(request, 1, ReadOptions)
        elif _is_json(media_type):
            uploads, options = await _read_page_json(request)
        else:
            given = f"Content-Type {media_type!r}" if media_type else "no Content-Type"
            raise ServeError(
                415, "unsupported_media_type",
                f"{given} is not accepted: send the document as a multipart/form-data file, or as application/json "
                "with a base64 image",
            )  # fmt: skip
    except ClientDisconnect:
        raise ServeError(400, "client_disconnected", "the client closed the connection mid-request") from None
    if not uploads:
        raise ServeError(400, "no_images", "the request holds no document: add one file (or a JSON image)")
    assert isinstance(options, ReadOptions)
    return uploads[0], options


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in JSON_TYPES or media_type.endswith("+json")


def _too_many(count: int, max_images: int) -> ServeError:
    return ServeError(
        413, "too_many_images", f"{count} images in one request, over the limit of {max_images} (--max-images); "
        "split them over several requests",
    )  # fmt: skip


async def _read_multipart(
    request: Request, max_images: int, options_model: type[RecognizeOptions] = RecognizeOptions
) -> tuple[list[Upload], RecognizeOptions]:
    try:
        # A generous file count so that "too many images" gets its own answer below; the body limit
        # bounds memory either way.
        form = await request.form(max_files=max(1000, 4 * max_images), max_fields=_MAX_FORM_FIELDS)
    except HTTPException as error:  # python-multipart's complaints: no boundary, malformed part...
        raise ServeError(400, "malformed_multipart", f"malformed multipart body: {error.detail}") from None
    try:
        files = [(key, value) for key, value in form.multi_items() if isinstance(value, UploadFile)]
        image_files = [(key, value) for key, value in files if key != "lexicon"]
        if len(image_files) > max_images:
            raise _too_many(len(image_files), max_images) if options_model is RecognizeOptions else _one_document()
        fields: dict[str, Any] = {}
        lexicon: list[str] = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "lexicon":
                    lexicon.extend(_words((await value.read()).decode("utf-8-sig", errors="replace")))
                continue
            if key in ("images", "image", "file", "files"):
                raise ServeError(
                    422, "invalid_request", f"form field {key!r} holds text, not a file: send images as file parts "
                    "(Content-Disposition with a filename)",
                )  # fmt: skip
            if key == "lexicon":
                lexicon.extend(_words(value))
            elif key in fields:
                raise ServeError(422, "invalid_request", f"form field {key!r} is given more than once")
            else:
                fields[key] = value
        if lexicon:
            fields["lexicon"] = lexicon
        options = _validate(options_model, fields)
        uploads = []
        for index, (_, upload) in enumerate(image_files):
            uploads.append(Upload(upload.filename or f"images[{index}]", await upload.read()))
        return uploads, options
    finally:
        await form.close()


def _words(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _one_document() -> ServeError:
    return ServeError(
        422, "invalid_request", "POST /v1/read reads one document a request: send the files one at a time "
        "(a PDF or a multi-page TIFF may hold several pages)",
    )  # fmt: skip


async def _parse_json(request: Request, model: type[_JSONBody]) -> _JSONBody:
    body = await request.body()
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        invalid_json = [e for e in error.errors() if e["type"] == "json_invalid"]
        if invalid_json:
            reason = (invalid_json[0].get("ctx") or {}).get("error") or invalid_json[0]["msg"]
            raise ServeError(400, "malformed_json", f"the body is not valid JSON: {reason}") from None
        raise ServeError(422, "invalid_request", _describe(error)) from None


async def _read_page_json(request: Request) -> tuple[list[Upload], ReadOptions]:
    payload = await _parse_json(request, ReadJSON)
    item = payload.image
    text, name = (item.data, item.name) if isinstance(item, ImagePayload) else (item, None)
    name = name or "image"
    try:
        data = _b64decode(text)
    except ValueError as error:
        problem = ImageProblem(0, name, f"not valid base64: {error}")
        raise ServeError(400, "malformed_base64", describe_problems([problem], 1), [problem]) from None
    options = ReadOptions.model_validate(payload.model_dump(exclude={"image"}, exclude_unset=True))
    return [Upload(name, data)], options


async def _read_json(request: Request, max_images: int) -> tuple[list[Upload], RecognizeOptions]:
    payload = await _parse_json(request, RecognizeJSON)
    if len(payload.images) > max_images:
        raise _too_many(len(payload.images), max_images)
    uploads: list[Upload] = []
    problems: list[ImageProblem] = []
    for index, item in enumerate(payload.images):
        text, name = (item.data, item.name) if isinstance(item, ImagePayload) else (item, None)
        name = name or f"images[{index}]"
        try:
            uploads.append(Upload(name, _b64decode(text)))
        except ValueError as error:
            problems.append(ImageProblem(index, name, f"not valid base64: {error}"))
    if problems:
        raise ServeError(400, "malformed_base64", describe_problems(problems, len(payload.images)), problems)
    # Only the options the client set count as set (check_options tells a default from a choice).
    options = RecognizeOptions.model_validate(payload.model_dump(exclude={"images"}, exclude_unset=True))
    return uploads, options


def check_options(options: _Options, config: ServeConfig) -> _Options:
    """``options`` within the service's bounds on a request's work, or a ``ServeError``: a lexicon over
    ``--max-lexicon-words`` or ``--max-lexicon-mb`` (413), a ``max_edit_distance`` over ``--max-edit-distance``
    (422). A client that sets no distance gets the default, lowered to the service's limit."""
    if options.lexicon is not None:
        words = len(options.lexicon)
        size = sum(len(word.encode("utf-8")) + 1 for word in options.lexicon)  # one a line
        if words > config.max_lexicon_words or size > config.max_lexicon_bytes:
            raise ServeError(
                413, "lexicon_too_large",
                f"the lexicon holds {words:,} words ({size:,} bytes, one a line), over this service's limits of "
                f"{config.max_lexicon_words:,} words (--max-lexicon-words) and {config.max_lexicon_bytes:,} bytes "
                "(--max-lexicon-mb); send the words that can occur",
            )  # fmt: skip
    limit = config.max_edit_distance
    if "max_edit_distance" not in options.model_fields_set:
        return options.model_copy(update={"max_edit_distance": min(options.max_edit_distance, limit)})
    if options.max_edit_distance > limit:
        raise ServeError(
            422, "invalid_options",
            f"max_edit_distance {options.max_edit_distance} is over this service's limit of {limit} "
            "(--max-edit-distance): the search grows steeply with it",
        )  # fmt: skip
    return options


def _b64decode(text: str) -> bytes:
    if text.startswith("data:"):  # a data: URL, as browsers' FileReader.readAsDataURL gives
        header, _, text = text.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("a data: URL without ';base64'")
    compact = "".join(text.split())  # line-wrapped base64 (MIME) is fine
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as error:
        raise ValueError(str(error)) from None


def _validate(model: type[RecognizeOptions], values: dict[str, Any]) -> RecognizeOptions:
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ServeError(422, "invalid_request", _describe(error)) from None


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:10]:
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        parts.append(f"{where}: {problem['msg']}")
    more = f" (and {error.error_count() - 10} more)" if error.error_count() > 10 else ""
    return "invalid request: " + "; ".join(parts) + more
