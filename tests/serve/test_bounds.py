"""The service bounds each request's work, through a real ``crnn serve``: lexicon size, edit distance, a
time budget for the work, and deadlines for a client's headers and body."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crnn_ctc.cli import main
from crnn_ctc.serve.launch import ServerProcess

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "crnn_ctc" / "assets" / "samples"
MAX_WORDS = 50
MAX_LEXICON_MB = 0.001  # 1,048 bytes
MAX_EDIT_DISTANCE = 2
CLIENT_TIMEOUT_S = 2.0
REQUEST_TIMEOUT_S = 1.0
# A batch of 2 images starts at once, while a single image waits --batch-wait-ms (3 s) for a second one:
# so a one-image request is work that takes longer than --request-timeout-s, and a two-image one is not.
SERVER_FLAGS = [
    "--threads", "1", "--max-lexicon-words", str(MAX_WORDS), "--max-lexicon-mb", str(MAX_LEXICON_MB),
    "--max-edit-distance", str(MAX_EDIT_DISTANCE), "--client-timeout-s", str(CLIENT_TIMEOUT_S),
    "--request-timeout-s", str(REQUEST_TIMEOUT_S), "--max-batch", "2", "--batch-wait-ms", "3000",
    "--log-level", "warning",
]  # fmt: skip
SLACK_S = 5.0  # a busy machine answers late; the point is seconds, not never


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(SERVER_FLAGS) as process:
        yield process
    assert process.process is not None and process.process.returncode == 0, process.log_text()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def _images(count: int = 2) -> list[dict[str, str]]:
    paths = sorted(SAMPLES.glob("*.png"))[:count]
    return [{"data": base64.b64encode(path.read_bytes()).decode(), "name": path.name} for path in paths]


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code, error
    return str(error["message"])


def test_the_limits_are_described(client) -> None:
    limits = client.get("/v1/model").json()["limits"]
    assert limits["max_lexicon_words"] == MAX_WORDS and limits["max_lexicon_mb"] == MAX_LEXICON_MB
    assert limits["max_edit_distance"] == MAX_EDIT_DISTANCE
    assert limits["request_timeout_s"] == REQUEST_TIMEOUT_S and limits["client_timeout_s"] == CLIENT_TIMEOUT_S


def test_an_oversized_lexicon_is_refused(client) -> None:
    words = [f"word{index}" for index in range(MAX_WORDS)]
    accepted = client.post("/v1/recognize", json={"images": _images(), "decoder": "lexicon", "lexicon": words})
    assert accepted.status_code == 200, accepted.text
    assert all(result["text"] in words for result in accepted.json()["results"])
    too_many = client.post("/v1/recognize", json={"images": _images(), "decoder": "lexicon", "lexicon": [*words, "x"]})
    message = _error(too_many, 413, "lexicon_too_large")
    assert f"{MAX_WORDS + 1} words" in message and "--max-lexicon-words" in message
    too_long = ["a" * 200 + str(index) for index in range(10)]  # 10 words, over 1,048 bytes
    _error(client.post("/v1/recognize", json={"images": _images(), "decoder": "lexicon", "lexicon": too_long}),
           413, "lexicon_too_large")  # fmt: skip
    files = [("images", (item["name"], base64.b64decode(item["data"]), "image/png")) for item in _images()]
    lexicon_file = ("lexicon", ("words.txt", "\n".join([*words, "x", "y"]).encode(), "text/plain"))
    _error(client.post("/v1/recognize", files=[*files, lexicon_file], data={"decoder": "lexicon"}),
           413, "lexicon_too_large")  # fmt: skip


def test_a_too_large_edit_distance_is_refused(client) -> None:
    body = {"images": _images(), "decoder": "lexicon", "lexicon": ["coffee", "street"]}
    message = _error(client.post("/v1/recognize", json={**body, "max_edit_distance": MAX_EDIT_DISTANCE + 1}),
                     422, "invalid_options")  # fmt: skip
    assert "--max-edit-distance" in message and str(MAX_EDIT_DISTANCE) in message
    assert client.post("/v1/recognize", json={**body, "max_edit_distance": MAX_EDIT_DISTANCE}).status_code == 200
    # Not set: the default (3), lowered to this service's limit rather than refused.
    assert client.post("/v1/recognize", json=body).status_code == 200


def test_work_over_the_time_budget_gets_503_and_the_service_goes_on(client) -> None:
    started = time.monotonic()
    message = _error(client.post("/v1/recognize", json={"images": _images(1)}), 503, "timeout")
    assert time.monotonic() - started < REQUEST_TIMEOUT_S + SLACK_S
    assert "--request-timeout-s" in message
    assert client.post("/v1/recognize", json={"images": _images(2)}).status_code == 200
    assert client.get("/health").json()["status"] == "ok"


def _until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    connection.settimeout(CLIENT_TIMEOUT_S + SLACK_S + 10)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic() - started


def _error_of(answer: bytes) -> dict:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    return json.loads(body)["error"]


def test_a_client_that_sends_half_a_body_is_disconnected_within_the_timeout(server) -> None:
    with socket.create_connection((server.host, server.port)) as connection:
        connection.sendall(
            b"POST /v1/recognize HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"images": ["iVBOR'
        )
        answer, seconds = _until_closed(connection)
    assert CLIENT_TIMEOUT_S - 0.5 < seconds < CLIENT_TIMEOUT_S + SLACK_S
    error = _error_of(answer)
    assert error["code"] == "request_timeout" and "--client-timeout-s" in error["message"]


def test_a_client_that_sends_half_its_headers_is_disconnected_within_the_timeout(server) -> None:
    with socket.create_connection((server.host, server.port)) as connection:
        connection.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: test\r\nContent-Ty")
        answer, seconds = _until_closed(connection)
    assert CLIENT_TIMEOUT_S - 0.5 < seconds < CLIENT_TIMEOUT_S + SLACK_S
    error = _error_of(answer)
    assert error["code"] == "request_timeout" and "headers" in error["message"]


def test_a_connection_that_sends_nothing_is_closed_within_the_timeout(server, client) -> None:
    with socket.create_connection((server.host, server.port)) as connection:
        answer, seconds = _until_closed(connection)
    assert answer == b"" and seconds < CLIENT_TIMEOUT_S + SLACK_S
    # A request that completes in time is not cut: its headers' deadline ends when they arrive.
    assert client.post("/v1/recognize", json={"images": _images(2)}).status_code == 200


@pytest.mark.parametrize(
    "flag",
    [["--max-lexicon-words", "0"], ["--max-lexicon-mb", "0"], ["--max-edit-distance", "-1"],
     ["--request-timeout-s", "0"], ["--client-timeout-s", "-1"]],
)  # fmt: skip
def test_bad_bounds_are_refused_before_starting(capsys, flag: list[str]) -> None:
    assert main(["serve", "--port", "1", *flag]) == 2
    assert flag[0] in capsys.readouterr().err
