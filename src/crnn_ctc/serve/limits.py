"""The request body limits, enforced as the body arrives, not after buffering it.

Size (``--max-body-mb``): a declared ``Content-Length`` over the limit is answered 413 before a byte of
the body is read; a body without one (chunked) is counted while it streams in, and the request fails
with 413 the moment it passes the limit, so no request can make the service hold more than the limit
in memory. Time (``--client-timeout-s``): the whole body must arrive within it of the request's
headers, or the request fails with 408 and the connection is closed, so a client that sends half a
body (slowly or never) holds no connection and no memory for long. (The headers' own deadline is
``timeouts.py``'s, in the HTTP protocol: the application sees no request before its headers.)
"""

from __future__ import annotations

import time
from typing import Any

import anyio
from starlette.responses import JSONResponse

from .errors import ServeError, error_body
from .metrics import ServeMetrics


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


def body_too_large(limit: int, declared: int | None = None) -> ServeError:
    size = f"Content-Length {declared:,} bytes is" if declared is not None else "the request body is"
    return ServeError(
        413,
        "body_too_large",
        f"{size} over the limit of {limit:,} bytes ({_megabytes(limit)}, --max-body-mb); "
        "send fewer or smaller images per request",
    )


def body_too_slow(timeout_s: float) -> ServeError:
    return ServeError(
        408, "request_timeout", f"the request body did not arrive within {timeout_s:g} s of its headers "
        "(--client-timeout-s); the connection is closed", headers={"Connection": "close"},
    )  # fmt: skip


class BodyLimitMiddleware:
    def __init__(self, app: Any, limit: int, metrics: ServeMetrics, read_timeout_s: float = 60.0) -> None:
        self.app = app
        self.limit = limit
        self.metrics = metrics
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            error = body_too_large(self.limit, declared)
            self.metrics.errors.labels(error.code).inc()
            # Connection: close, as the unread body is still on its way.
            response = JSONResponse(
                error_body(error.status, error.code, error.message), error.status, headers={"Connection": "close"}
            )
            await response(scope, receive, send)
            return
        received = 0
        limit, timeout_s = self.limit, self.read_timeout_s
        deadline = time.monotonic() + timeout_s
        body_done = False

        async def counted_receive() -> dict[str, Any]:
            nonlocal received, body_done
            if body_done:  # past the body, receive() waits for a disconnect: no deadline
                message: dict[str, Any] = await receive()
                return message
            try:
                with anyio.fail_after(max(deadline - time.monotonic(), 0.0)):
                    message = await receive()
            except TimeoutError:
                raise body_too_slow(timeout_s) from None  # answered by the app's ServeError handler
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise body_too_large(limit)
                body_done = not message.get("more_body", False)
            return message

        await self.app(scope, counted_receive, send)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the HTTP server refuses a malformed length before we see it
    return None
