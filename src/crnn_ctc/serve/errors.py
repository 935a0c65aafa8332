"""The service's error answers: one JSON shape for every 4xx/5xx, saying what is wrong and, for images,
which ones (index and file name)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

# Codes for statuses raised by the framework itself (unknown path, wrong method...).
_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal_error",
    503: "unavailable",
}


@dataclass(frozen=True)
class ImageProblem:
    """Why one image of a request could not be used."""

    index: int
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "reason": self.reason}


class ServeError(Exception):
    """A request the service refuses: an HTTP status, a stable machine-readable code and a message for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        images: list[ImageProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.images = images or []
        self.headers = headers


def status_code_name(status: int) -> str:
    return _STATUS_CODES.get(status, "client_error" if status < 500 else "server_error")


def error_body(status: int, code: str, message: str, images: list[ImageProblem] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status, "code": code, "message": message}
    if images:
        error["images"] = [problem.to_dict() for problem in images]
    return {"error": error}


def error_response(error: ServeError) -> JSONResponse:
    return JSONResponse(
        error_body(error.status, error.code, error.message, error.images), error.status, headers=error.headers
    )


def describe_problems(problems: list[ImageProblem], total: int) -> str:
    """One line naming the unusable images (the first five) and why."""
    listed = "; ".join(f"#{p.index} {p.name}: {p.reason}" for p in problems[:5])
    more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
    return f"{len(problems)} of {total} images cannot be used: {listed}{more}"
