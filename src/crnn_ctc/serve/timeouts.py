"""A deadline for each request's headers (``--client-timeout-s``), in uvicorn's HTTP protocol.

uvicorn closes a connection idle between requests (``timeout_keep_alive``), but not one that has sent
nothing yet, or half its headers: the application never sees such a request, so only the protocol can
end it. ``HeaderDeadlineProtocol`` is uvicorn's own protocol (httptools, else h11) with one timer: it is
armed when a connection opens and when the first bytes of a next request arrive, and disarmed when a
request's headers are complete. When it fires, a partial request is answered 408 in the service's
error shape, and the connection closed. The body's deadline is ``limits.py``'s, in the application.

The deadline comes through the lifespan state (``CLIENT_TIMEOUT_STATE``), which uvicorn hands to every
connection, so ``--workers N`` processes each get their own service's setting.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from .errors import error_body

CLIENT_TIMEOUT_STATE = "crnn_client_timeout_s"
# uvicorn's `http` setting: an import string, so worker processes load the same class.
PROTOCOL = "crnn_ctc.serve.timeouts:HeaderDeadlineProtocol"


def _timeout_response(timeout_s: float) -> bytes:
    body = json.dumps(
        error_body(408, "request_timeout", f"the request's headers did not arrive within {timeout_s:g} s "
                   "(--client-timeout-s); the connection is closed")
    ).encode()  # fmt: skip
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderDeadlineProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, closing a connection whose next request's headers are late."""

    _header_timer: asyncio.TimerHandle | None = None
    _partial = False  # bytes of the next request have arrived

    def _waiting_for_headers(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is None or bool(cycle.response_complete)

    def _timeout_s(self) -> float | None:
        state: dict[str, Any] = getattr(self, "app_state", None) or {}
        timeout = state.get(CLIENT_TIMEOUT_STATE)
        return float(timeout) if timeout else None

    def _arm(self) -> None:
        timeout = self._timeout_s()
        if timeout is not None and self._header_timer is None:
            self._header_timer = asyncio.get_running_loop().call_later(timeout, self._headers_late, timeout)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self, timeout_s: float) -> None:
        self._header_timer = None
        if not self._waiting_for_headers() or self.transport.is_closing():
            return
        if self._partial:
            self.transport.write(_timeout_response(timeout_s))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        waiting = self._waiting_for_headers()
        super().data_received(data)
        if not self._waiting_for_headers():  # the headers are complete: the request runs
            self._partial = False
            self._disarm()
        elif waiting and data:
            self._partial = True
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._partial = False  # idle until the next bytes: uvicorn's keep-alive timeout rules

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
