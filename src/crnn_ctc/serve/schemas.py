"""The JSON answers of the service, as pydantic models (they also make the OpenAPI docs at ``/docs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..decode import GREEDY_ABOVE, WIDER
from .payload import MULTIPART_TYPE, ReadJSON, RecognizeJSON


class ImageTiming(BaseModel):
    preprocess_ms: float = Field(description="decoding and resizing this image")
    queue_ms: float = Field(description="waiting for a forward pass")
    inference_ms: float = Field(description="the forward pass this image shared with the others of its batch")
    decode_ms: float = Field(description="turning log-probabilities into text (shared by its batch for greedy)")


class ImageResult(BaseModel):
    index: int = Field(description="position of the image in the request")
    name: str = Field(description="file name, or the JSON name, or images[INDEX]")
    text: str
    confidence: float = Field(description="P(text | image), in [0, 1] (docs/confidence.md)")
    char_probs: list[float] = Field(description="each character's probability on the best alignment")
    flagged: bool = Field(False, description="lexicon decoder only: no lexicon word was close; the text is greedy")
    batch_size: int = Field(description="images in the forward pass this image was part of")
    timing_ms: ImageTiming


class RecognizeResponse(BaseModel):
    results: list[ImageResult]
    decoder: str
    total_ms: float = Field(description="time from reading the request to answering it")


Box = list[int]  # [x0, y0, x1, y1] in page pixels, x1 and y1 exclusive


class WordResult(BaseModel):
    text: str
    box: Box
    confidence: float = Field(description="the product of its characters' probabilities")


class LineResult(BaseModel):
    text: str
    box: Box
    confidence: float = Field(description="P(text | line image), in [0, 1]")
    words: list[WordResult]


class BlockResult(BaseModel):
    kind: str = Field(description="text")
    box: Box
    lines: list[LineResult] = Field(description="in reading order")


class PageResult(BaseModel):
    """One page, as ``crnn read --format json`` writes it (docs/reading_pages.md)."""

    source: str = Field(description="the file name (or the JSON name)")
    page_number: int = Field(description="counts from 1 within the document")
    width: int = Field(description="of the page image the boxes refer to (upright and deskewed)")
    height: int
    rotation: int = Field(description="0, 90, 180 or 270: degrees counter-clockwise the page was turned to read it")
    skew: float = Field(
        description="the page's tilt in degrees (counter-clockwise positive), turned back before reading"
    )
    text: str = Field(description="reading order: lines apart by a newline, blocks by a blank line")
    blocks: list[BlockResult] = Field(description="in reading order: columns left to right, top to bottom")
    figures: list[Box] = Field(description="pictures and rules set aside, not read")
    warnings: list[str]


class ReadResponse(BaseModel):
    pages: list[PageResult]
    text: str = Field(description="every page's text, pages apart by a form feed")
    decoder: str
    total_ms: float = Field(description="time from reading the request to answering it")


class ModelDescription(BaseModel):
    file: str
    architecture: str
    charset: str = Field(description="the symbols the model reads, in class order (class 0 is the CTC blank)")
    num_classes: int
    parameters: dict[str, Any] = Field(description="the architecture's configuration")
    preprocess: dict[str, Any]
    provenance: dict[str, Any]
    format_version: int | None
    crnn_ctc_version: str
    backend: str = Field(description="the engine: onnx (ONNX Runtime) or torch")
    precision: str = Field(description="fp32, or int8 (static|dynamic) for a quantised ONNX graph")
    decoders: list[str]
    limits: dict[str, Any]


class Health(BaseModel):
    status: str
    queued_images: int
    worker_pid: int = Field(description="the process that answered (one of several with --workers N)")


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(description="stable, machine-readable: e.g. bad_image, body_too_large, malformed_json")
    message: str
    images: list[dict[str, Any]] | None = Field(None, description="the images at fault: index, name, reason")


class ErrorResponse(BaseModel):
    error: ErrorDetail


_OPTION_PROPERTIES: dict[str, Any] = {
    "decoder": {"type": "string", "enum": ["auto", "greedy", "beam", "lexicon"], "default": "greedy"},
    "beam_width": {"type": "integer", "default": 10},
    "lexicon": {"type": "string", "description": "lexicon words, one per line"},
    "max_edit_distance": {"type": "integer", "default": 3},
    "allow": {"type": "string"},
    "block": {"type": "string"},
    "word_prior": {"type": "string", "enum": ["wordfreq"]},
    "prior_weight": {"type": "number"},
    "prior_bonus": {"type": "number"},
    "greedy_above": {"type": "number", "default": GREEDY_ABOVE},
    "wider": {"type": "number", "default": WIDER},
}
_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "image files"},
        **_OPTION_PROPERTIES,
    },
    "required": ["images"],
}

# The JSON body's schema and the ones it refers to, added to the OpenAPI components (the route reads the
# body itself, to accept two content types and to enforce the limits while reading).
_JSON_SCHEMA = RecognizeJSON.model_json_schema(ref_template="#/components/schemas/{model}")
_READ_JSON_SCHEMA = ReadJSON.model_json_schema(ref_template="#/components/schemas/{model}")
OPENAPI_COMPONENTS: dict[str, Any] = {
    **_JSON_SCHEMA.pop("$defs", {}), **_READ_JSON_SCHEMA.pop("$defs", {}), "RecognizeJSON": _JSON_SCHEMA,
    "ReadJSON": _READ_JSON_SCHEMA,
}  # fmt: skip

RECOGNIZE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART_TYPE: {"schema": _MULTIPART_SCHEMA},
            "application/json": {"schema": {"$ref": "#/components/schemas/RecognizeJSON"}},
        },
    }
}

_READ_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "format": "binary", "description": "a page image (PNG, JPEG, TIFF) or a PDF"},
        **_OPTION_PROPERTIES,
        "deskew": {"type": "boolean", "default": True},
        "orientation": {"type": "boolean", "default": True},
        "check_spaces": {"type": "boolean", "default": True},
        "format": {"type": "string", "enum": ["json", "hocr", "text"], "default": "json"},
    },
    "required": ["image"],
}

READ_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART_TYPE: {"schema": _READ_MULTIPART_SCHEMA},
            "application/json": {"schema": {"$ref": "#/components/schemas/ReadJSON"}},
        },
    },
    "responses": {
        "200": {
            "description": "format=json: the pages; format=hocr: hOCR 1.2 XHTML; format=text: plain text",
            "content": {
                "application/xhtml+xml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
}

READ_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "malformed JSON, base64 or multipart body; no document"),
        (408, "the body did not arrive within --client-timeout-s"),
        (413, "body over --max-body-mb, a page over --max-page-pixels, more pages than --max-pages, or a lexicon "
              "over --max-lexicon-words/-mb"),
        (415, "neither multipart/form-data nor application/json"),
        (422, "the document cannot be read (bad_document, naming it), more than one file, or invalid options"),
        (503, "the work took over --request-timeout-s"),
    )
}  # fmt: skip

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (400, "malformed JSON, base64 or multipart body; no image"),
        (408, "the body did not arrive within --client-timeout-s"),
        (413, "body over --max-body-mb, more images than --max-images, or a lexicon over --max-lexicon-words/-mb"),
        (415, "neither multipart/form-data nor application/json"),
        (422, "an image cannot be read (each one named), or invalid options (max_edit_distance over the limit...)"),
        (503, "the inference queue is full (--max-queue): retry; or the work took over --request-timeout-s"),
    )
}
