"""Reading a ``POST /v1/recognize`` request: multipart files or JSON with base64 images, plus decoding
options. Everything wrong with a request becomes a ``ServeError`` saying what, and for images which one."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from .config import ServeConfig
from .errors import ImageProblem, ServeError, describe_problems

# Form parts a multipart request may carry besides its images; bounded far below the body limit.
_MAX_FORM_FIELDS = 64
JSON_TYPES = ("application/json",)
MULTIPART_TYPE = "multipart/form-data"


@dataclass(frozen=True)
class Upload:
    """One image file as received: its name in answers and messages, and its encoded bytes."""

    name: str
    data: bytes


class RecognizeOptions(BaseModel):
    """How to turn the network's output into text (docs/confidence.md). The defaults use the shared batch decode."""

    model_config = ConfigDict(extra="forbid")

    decoder: Literal["greedy", "beam", "lexicon"] = Field(
        "greedy", description="greedy (best path), beam (CTC prefix beam search) or lexicon (the CRNN paper's search)"
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

    @property
    def is_default(self) -> bool:
        return self.decoder == "greedy" and not self.allow and not self.block and not self.lexicon

    def decoder_key(self) -> tuple[Any, ...]:
        """A hashable identity of the decoder these options build (for the service's decoder cache)."""
        lexicon = tuple(self.lexicon) if self.lexicon is not None else None
        return (self.decoder, self.beam_width, lexicon, self.max_edit_distance, self.allow or None, self.block or None)


class ImagePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="the image file (PNG, JPEG, TIFF, ...) in base64; a data: URL works too")
    name: str | None = Field(None, description="a name to report the image by (default: images[INDEX])")


class RecognizeJSON(RecognizeOptions):
    """``application/json`` body of ``POST /v1/recognize``."""

    images: list[ImagePayload | str] = Field(
        description="the images: objects with base64 ``data`` (and an optional ``name``), or bare base64 strings"
    )


async def read_recognize_request(request: Request, max_images: int) -> tuple[list[Upload], RecognizeOptions]:
    """The images and options of a recognize request, or a ``ServeError`` (400, 413, 415, 422)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        if media_type == MULTIPART_TYPE:
            uploads, options = await _read_multipart(request, max_images)
        elif media_type in JSON_TYPES or media_type.endswith("+json"):
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


def _too_many(count: int, max_images: int) -> ServeError:
    return ServeError(
        413, "too_many_images", f"{count} images in one request, over the limit of {max_images} (--max-images); "
        "split them over several requests",
    )  # fmt: skip


async def _read_multipart(request: Request, max_images: int) -> tuple[list[Upload], RecognizeOptions]:
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
            raise _too_many(len(image_files), max_images)
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
        options = _validate(RecognizeOptions, fields)
        uploads = []
        for index, (_, upload) in enumerate(image_files):
            uploads.append(Upload(upload.filename or f"images[{index}]", await upload.read()))
        return uploads, options
    finally:
        await form.close()


def _words(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def _read_json(request: Request, max_images: int) -> tuple[list[Upload], RecognizeOptions]:
    body = await request.body()
    try:
        payload = RecognizeJSON.model_validate_json(body)
    except ValidationError as error:
        invalid_json = [e for e in error.errors() if e["type"] == "json_invalid"]
        if invalid_json:
            reason = (invalid_json[0].get("ctx") or {}).get("error") or invalid_json[0]["msg"]
            raise ServeError(400, "malformed_json", f"the body is not valid JSON: {reason}") from None
        raise ServeError(422, "invalid_request", _describe(error)) from None
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


def check_options(options: RecognizeOptions, config: ServeConfig) -> RecognizeOptions:
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
