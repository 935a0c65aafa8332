"""The JSON answers of the service, as pydantic models (they also make the OpenAPI docs at ``/docs``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .payload import MULTIPART_TYPE, RecognizeJSON


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


_MULTIPART_SCHEMA = {
    "type": "object",
    "properties": {
        "images": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "image files"},
        "decoder": {"type": "string", "enum": ["greedy", "beam", "lexicon"], "default": "greedy"},
        "beam_width": {"type": "integer", "default": 10},
        "lexicon": {"type": "string", "description": "lexicon words, one per line"},
        "max_edit_distance": {"type": "integer", "default": 3},
        "allow": {"type": "string"},
        "block": {"type": "string"},
    },
    "required": ["images"],
}

# The JSON body's schema and the ones it refers to, added to the OpenAPI components (the route reads the
# body itself, to accept two content types and to enforce the limits while reading).
_JSON_SCHEMA = RecognizeJSON.model_json_schema(ref_template="#/components/schemas/{model}")
OPENAPI_COMPONENTS: dict[str, Any] = {**_JSON_SCHEMA.pop("$defs", {}), "RecognizeJSON": _JSON_SCHEMA}

RECOGNIZE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART_TYPE: {"schema": _MULTIPART_SCHEMA},
            "application/json": {"schema": {"$ref": "#/components/schemas/RecognizeJSON"}},
        },
    }
}

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
