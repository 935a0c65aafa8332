"""``crnn serve`` through a real server: ``crnn serve`` in a child process on a free 127.0.0.1 port (one for
the module), spoken to over HTTP, with the bundled model reading the bundled samples."""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import socket
import struct
import sys
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from crnn_ctc.cli import main
from crnn_ctc.serve.launch import ServerProcess

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "crnn_ctc" / "assets" / "samples"
MAX_BODY_MB = 1
MAX_IMAGES = 12  # the bundled samples (10) fit in one request
MAX_PIXELS = 1_000_000
# A long batching window, so that concurrent test requests meet in the batcher even on a loaded machine.
BATCH_WAIT_MS = 250
SERVER_FLAGS = [
    "--threads", "1", "--max-body-mb", str(MAX_BODY_MB), "--max-images", str(MAX_IMAGES), "--max-batch", "16",
    "--batch-wait-ms", str(BATCH_WAIT_MS), "--max-pixels", str(MAX_PIXELS), "--log-level", "warning",
]  # fmt: skip


def _labels() -> dict[str, str]:
    lines = (SAMPLES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line)


LABELS = _labels()


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(SERVER_FLAGS) as process:
        yield process
    assert process.process is not None and process.process.returncode == 0, process.log_text()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


def _png(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("images", (name, data, "image/png")) for name, data in items]


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code, error
    assert error["message"]
    return error


def _metrics(client: httpx.Client) -> dict[str, float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def _assert_reads_samples(client: httpx.Client, names: list[str]) -> None:
    response = client.post("/v1/recognize", files=_files(*((name, _png(name)) for name in names)))
    assert response.status_code == 200, response.text
    assert [(r["name"], r["text"]) for r in response.json()["results"]] == [(n, LABELS[n]) for n in names]


# --- endpoints -------------------------------------------------------------------------------------------


def test_health_and_model_description(client: httpx.Client) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    model = client.get("/v1/model").json()
    assert model["file"] == "crnn-ctc-default.safetensors"
    assert model["architecture"] == "small" and model["parameters"]["arch"] == "small"
    assert set("".join(LABELS.values())) <= set(model["charset"])
    assert model["num_classes"] == len(model["charset"]) + 1  # + the CTC blank
    assert model["format_version"] == 1 and model["crnn_ctc_version"]
    assert model["backend"] == "onnx" and model["precision"] in ("fp32", "int8 (static)", "int8 (dynamic)")
    assert model["limits"]["max_images"] == MAX_IMAGES and model["limits"]["max_pixels"] == MAX_PIXELS


def test_recognize_multipart_reads_every_sample_in_order(client: httpx.Client) -> None:
    names = sorted(LABELS)
    response = client.post("/v1/recognize", files=_files(*((name, _png(name)) for name in names)))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decoder"] == "greedy" and answer["total_ms"] > 0
    results = answer["results"]
    assert [r["index"] for r in results] == list(range(len(names)))
    assert {r["name"]: r["text"] for r in results} == LABELS
    for result in results:
        assert 0.0 < result["confidence"] <= 1.0
        assert len(result["char_probs"]) == len(result["text"])
        assert 1 <= result["batch_size"] <= 16
        assert set(result["timing_ms"]) == {"preprocess_ms", "queue_ms", "inference_ms", "decode_ms"}
        assert all(value >= 0 for value in result["timing_ms"].values())


def test_recognize_json_base64_objects_bare_strings_and_data_urls(client: httpx.Client) -> None:
    a, b, c = "sample_01.png", "sample_03.png", "sample_06.png"
    encoded = {name: base64.b64encode(_png(name)).decode() for name in (a, b, c)}
    wrapped = "\n".join(encoded[b][i : i + 76] for i in range(0, len(encoded[b]), 76))  # MIME line breaks
    body = {"images": [{"data": encoded[a], "name": a}, wrapped, {"data": "data:image/png;base64," + encoded[c]}]}
    response = client.post("/v1/recognize", json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["name"], r["text"]) for r in results] == [
        (a, LABELS[a]),
        ("images[1]", LABELS[b]),
        ("images[2]", LABELS[c]),
    ]


def test_decoder_options_per_request(client: httpx.Client) -> None:
    name = "sample_00.png"  # "Hello"
    beam = client.post("/v1/recognize", files=_files((name, _png(name))), data={"decoder": "beam", "beam_width": "5"})
    assert beam.status_code == 200, beam.text
    assert beam.json()["decoder"] == "beam" and beam.json()["results"][0]["text"] == "Hello"
    blocked = client.post("/v1/recognize", files=_files((name, _png(name))), data={"block": "H"})
    assert blocked.status_code == 200 and "H" not in blocked.json()["results"][0]["text"]
    # The lexicon decoder answers with the nearest lexicon word, even one the greedy text is edits away from.
    lexicon = client.post(
        "/v1/recognize", files=_files((name, _png(name))), data={"decoder": "lexicon", "lexicon": "Help\nHollow\n"}
    )
    assert lexicon.status_code == 200, lexicon.text
    assert lexicon.json()["results"][0]["text"] in {"Help", "Hollow"}
    as_json = client.post(
        "/v1/recognize",
        json={"images": [base64.b64encode(_png(name)).decode()], "decoder": "lexicon", "lexicon": ["Yellow"]},
    )
    assert as_json.status_code == 200 and as_json.json()["results"][0]["text"] == "Yellow"


PARITY_LEXICON = ["Hello", "Help", "coffee", "toffee", "STREET", "2026", "book", "look", "OPEN", "Recognition"]


@pytest.mark.parametrize(
    ("fields", "decoder", "options"),
    [
        ({}, "greedy", {}),
        ({"decoder": "auto"}, "auto", {}),  # unsure images read wider too, through the batcher
        ({"decoder": "auto", "greedy_above": "1.0"}, "auto", {"greedy_above": 1.0}),  # all: wider, then the prior
        ({"decoder": "auto", "wider": "1"}, "auto", {"wider": 1.0}),
        ({"decoder": "beam", "beam_width": "5", "block": "0"}, "beam", {"beam_width": 5, "block": "0"}),
        ({"decoder": "lexicon", "lexicon": "\n".join(PARITY_LEXICON)}, "lexicon", {"lexicon": PARITY_LEXICON}),
        ({"word_prior": "wordfreq", "prior_weight": "0.6"}, "beam", {"word_prior": "wordfreq", "prior_weight": 0.6}),
        ({"lexicon": "\n".join(PARITY_LEXICON)}, "lexicon", {"lexicon": PARITY_LEXICON}),  # as --lexicon alone
    ],
    ids=["greedy", "auto", "auto-everywhere", "auto-not-wider", "beam", "lexicon", "word-prior", "lexicon-alone"],
)
def test_the_service_reads_as_the_recognizer(
    client: httpx.Client, recognizer, fields: dict, decoder: str, options: dict
) -> None:
    from crnn_ctc import Recognizer
    from crnn_ctc.decode import DecoderOptions, make_decoder

    names = sorted(LABELS)
    response = client.post("/v1/recognize", files=_files(*((name, _png(name)) for name in names)), data=fields)
    assert response.status_code == 200, response.text
    assert response.json()["decoder"] == decoder
    chosen = make_decoder(decoder, recognizer.charset, DecoderOptions(**options))
    local = Recognizer(recognizer.info, recognizer.engine, chosen)
    expected = local.recognize([SAMPLES / name for name in names])
    for result, prediction in zip(response.json()["results"], expected, strict=True):
        assert (result["text"], result["flagged"]) == (prediction.text, prediction.flagged), result["name"]
        assert result["confidence"] == pytest.approx(prediction.confidence, abs=1e-4)
        assert result["char_probs"] == pytest.approx(prediction.char_probs, abs=1e-4)


def test_docs_are_served_without_a_cdn(client: httpx.Client) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs.text and "cdn." not in docs.text
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/recognize"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    assert "RecognizeJSON" in schema["components"]["schemas"]
    assert {"/health", "/v1/model", "/metrics"} <= set(schema["paths"])


def test_web_page_and_its_assets(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="files"' in page.text and "/static/app.js" in page.text and "http" not in page.text.split("<body>")[1]
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "/v1/recognize" in script.text
    assert client.get("/static/style.css").status_code == 200


def test_metrics_exposes_requests_errors_latency_and_batches(client: httpx.Client) -> None:
    client.post("/v1/recognize", files=_files(("sample_05.png", _png("sample_05.png"))))
    client.post("/v1/recognize", content=b"x", headers={"content-type": "text/plain"})
    values = _metrics(client)
    assert values["crnn_http_requests_total{method=POST,route=/v1/recognize,status=200}"] >= 1
    assert values["crnn_http_requests_total{method=POST,route=/v1/recognize,status=415}"] >= 1
    assert values["crnn_errors_total{code=unsupported_media_type}"] >= 1
    assert values["crnn_http_request_duration_seconds_count{route=/v1/recognize}"] >= 2
    assert values["crnn_batch_size_count{}"] >= 1 and values["crnn_images_total{}"] >= 1
    assert values["crnn_inference_seconds_count{}"] == values["crnn_batch_size_count{}"]


# --- batching --------------------------------------------------------------------------------------------


def test_concurrent_single_image_requests_share_forward_passes(server: ServerProcess, client: httpx.Client) -> None:
    before = _metrics(client)
    names = [sorted(LABELS)[i % len(LABELS)] for i in range(16)]  # every sample twice
    barrier = threading.Barrier(len(names))
    answers: dict[int, httpx.Response] = {}

    def ask(slot: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as own:
            barrier.wait()
            answers[slot] = own.post("/v1/recognize", files=_files((names[slot], _png(names[slot]))))

    threads = [threading.Thread(target=ask, args=(slot,)) for slot in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = _metrics(client)
    # Each request got the text of its own image, not a neighbour's from the shared batch.
    for slot, name in enumerate(names):
        assert answers[slot].status_code == 200, answers[slot].text
        result = answers[slot].json()["results"][0]
        assert (result["name"], result["text"]) == (name, LABELS[name])
    batches = after["crnn_batch_size_count{}"] - before["crnn_batch_size_count{}"]
    images = after["crnn_batch_size_sum{}"] - before["crnn_batch_size_sum{}"]
    assert images == len(names)
    assert batches < len(names), "no two concurrent requests shared a forward pass"
    assert max(answers[slot].json()["results"][0]["batch_size"] for slot in answers) > 1


# --- bad input -------------------------------------------------------------------------------------------


def _bomb_header_png(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels in a few dozen bytes (its data is one short row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    data = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _blank_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 255).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("notes.png", b"these are words, not pixels", "not an image"),
        ("truncated.png", _png("sample_04.png")[:300], "truncated"),
        ("empty.png", b"", "empty"),
        ("wide.png", _blank_png(2000, 1000), "decompression bomb"),  # 2 MP over the 1 MP limit, 10 KB of PNG
        ("bomb.png", _bomb_header_png(60_000, 60_000), "decompression bomb"),  # 3.6 gigapixels declared
    ],
)
def test_unusable_images_get_422_naming_the_image(
    client: httpx.Client, filename: str, data: bytes, reason: str
) -> None:
    error = _error(client.post("/v1/recognize", files=_files((filename, data))), 422, "bad_image")
    assert error["images"][0]["index"] == 0 and error["images"][0]["name"] == filename
    assert reason in error["images"][0]["reason"] and filename in error["message"]


def test_one_bad_image_fails_the_request_and_names_each_bad_one(client: httpx.Client) -> None:
    good = _png("sample_00.png")
    files = _files(("good.png", good), ("broken.png", good[:200]), ("good2.png", good), ("junk.png", b"junk"))
    error = _error(client.post("/v1/recognize", files=files), 422, "bad_image")
    assert [(p["index"], p["name"]) for p in error["images"]] == [(1, "broken.png"), (3, "junk.png")]
    assert error["message"].startswith("2 of 4 images cannot be used")


def test_too_many_images_gets_413(client: httpx.Client) -> None:
    image = _png("sample_07.png")
    error = _error(client.post("/v1/recognize", files=_files(*[(f"{i}.png", image) for i in range(MAX_IMAGES + 1)])),
                   413, "too_many_images")  # fmt: skip
    assert f"limit of {MAX_IMAGES}" in error["message"]
    encoded = base64.b64encode(image).decode()
    _error(client.post("/v1/recognize", json={"images": [encoded] * (MAX_IMAGES + 1)}), 413, "too_many_images")


def _raw_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def test_declared_content_length_over_the_limit_is_refused_before_the_body(server: ServerProcess) -> None:
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/recognize HTTP/1.1\r\nHost: test\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_BODY_MB * 1024 * 1024 + 1)
        )  # and not one byte of the body: the answer must not wait for it
        status, headers, body = _raw_response(sock)
    assert status == 413 and headers["connection"] == "close"
    assert b'"body_too_large"' in body and b"Content-Length" in body


def test_streamed_body_over_the_limit_is_refused_while_reading(server: ServerProcess, client: httpx.Client) -> None:
    piece = b" " * 65536  # JSON whitespace: a valid start of a body that never ends
    pieces = MAX_BODY_MB * 1024 * 1024 // len(piece) + 1  # just past the limit
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/recognize HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")  # fmt: skip
        for _ in range(pieces):
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        # No final chunk: a server that buffered the whole body before checking it would never answer.
        status, _, body = _raw_response(sock)
    assert status == 413 and b'"body_too_large"' in body
    _assert_reads_samples(client, ["sample_02.png"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "image/png", None])
def test_wrong_content_type_gets_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    error = _error(client.post("/v1/recognize", content=_png("sample_00.png"), headers=headers), 415,
                   "unsupported_media_type")  # fmt: skip
    assert "multipart/form-data" in error["message"]


def test_malformed_json_gets_400(client: httpx.Client) -> None:
    truncated = b'{"images": ["abc"'
    response = client.post("/v1/recognize", content=truncated, headers={"content-type": "application/json"})
    error = _error(response, 400, "malformed_json")
    assert "line 1" in error["message"]


def test_malformed_base64_gets_400_naming_the_image(client: httpx.Client) -> None:
    good = base64.b64encode(_png("sample_00.png")).decode()
    body = {"images": [good, {"data": "not*base64!", "name": "scan.png"}, "YWJ"]}
    error = _error(client.post("/v1/recognize", json=body), 400, "malformed_base64")
    assert [(p["index"], p["name"]) for p in error["images"]] == [(1, "scan.png"), (2, "images[2]")]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"images": "abc"}, "images"),
        ({"pictures": []}, "images: Field required"),
        ({"images": [], "decoder": "guess"}, "decoder"),
        ({"images": [], "beam_width": 0}, "beam_width"),
    ],
)
def test_json_that_does_not_fit_the_schema_gets_422(client: httpx.Client, body: dict, fragment: str) -> None:
    error = _error(client.post("/v1/recognize", json=body), 422, "invalid_request")
    assert fragment in error["message"]


def test_invalid_options_and_empty_requests(client: httpx.Client) -> None:
    image = _files(("a.png", _png("sample_00.png")))
    error = _error(client.post("/v1/recognize", files=image, data={"decoder": "lexicon"}), 422, "invalid_options")
    assert "lexicon" in error["message"]
    _error(client.post("/v1/recognize", files=image, data={"colour": "red"}), 422, "invalid_request")
    _error(client.post("/v1/recognize", json={"images": []}), 400, "no_images")
    form_without_files = b'--b\r\nContent-Disposition: form-data; name="decoder"\r\n\r\ngreedy\r\n--b--\r\n'
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    _error(client.post("/v1/recognize", content=form_without_files, headers=multipart), 400, "no_images")
    _error(client.get("/v1/nothing-here"), 404, "not_found")
    _error(client.get("/v1/recognize"), 405, "method_not_allowed")


def test_still_serving_after_the_bad_inputs(server: ServerProcess, client: httpx.Client) -> None:
    assert server.process is not None and server.process.poll() is None
    _assert_reads_samples(client, sorted(LABELS))
    values = _metrics(client)
    for code in ("bad_image", "too_many_images", "body_too_large", "malformed_json", "malformed_base64"):
        assert values[f"crnn_errors_total{{code={code}}}"] >= 1, code
    assert client.get("/health").json()["status"] == "ok"


# --- the command -----------------------------------------------------------------------------------------


def test_other_commands_do_not_import_the_web_stack() -> None:
    code = (
        "import sys; from crnn_ctc.cli import _build_parser; _build_parser(); "
        "assert not {'fastapi', 'uvicorn', 'starlette'} & set(sys.modules), sorted(sys.modules)"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_port_in_use_is_an_error_with_exit_code_2() -> None:
    import subprocess

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "crnn_ctc", "serve", "--port", str(port), "--threads", "1"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "address already in use" in result.stderr and f"127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("flag", [["--max-batch", "0"], ["--max-body-mb", "-1"], ["--max-queue", "4"]])
def test_bad_limits_are_refused_before_starting(capsys, flag: list[str]) -> None:
    assert main(["serve", "--port", "1", *flag]) == 2
    assert flag[0] in capsys.readouterr().err


@pytest.mark.slow
def test_worker_processes_each_serve_and_share_their_metrics() -> None:
    with ServerProcess([*SERVER_FLAGS, "--workers", "2", "--batch-wait-ms", "0"]) as server:
        # A new connection per request, so the kernel hands them to either worker.
        pids = {httpx.get(f"{server.url}/health").json()["worker_pid"] for _ in range(40)}
        assert len(pids) == 2 and server.pid not in pids
        names = sorted(LABELS) * 2
        for name in names:
            response = httpx.post(f"{server.url}/v1/recognize", files=_files((name, _png(name))), timeout=60)
            assert response.status_code == 200 and response.json()["results"][0]["text"] == LABELS[name]
        # Whichever worker answers /metrics, it reports the sum over both.
        for _ in range(6):
            with httpx.Client(base_url=server.url) as fresh_connection:
                values = _metrics(fresh_connection)
            assert values["crnn_images_total{}"] == len(names)
            assert values["crnn_http_requests_total{method=POST,route=/v1/recognize,status=200}"] == len(names)


# --- the batcher in-process ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recognizer():
    from crnn_ctc import Recognizer

    return Recognizer.load(threads=1)


def test_width_groups_keep_similar_widths_together_and_respect_the_batch_size() -> None:
    from crnn_ctc.preprocess import MIN_WIDTH_FILL
    from crnn_ctc.serve.batcher import width_groups

    class Job:  # width_groups reads only the array's shape
        def __init__(self, width: int) -> None:
            self.array = np.zeros((1, 32, width), dtype=np.float32)

    widths = [100, 40, 96, 200, 92, 44, 180, 100, 100, 100]
    groups = width_groups([Job(w) for w in widths], max_batch=3)  # type: ignore[arg-type]
    flat = [job.array.shape[2] for group in groups for job in group]
    assert flat == sorted(widths, reverse=True)
    for group in groups:
        assert 1 <= len(group) <= 3
        assert group[-1].array.shape[2] >= MIN_WIDTH_FILL * group[0].array.shape[2]
    assert [len(group) for group in groups] == [2, 3, 3, 2]  # 200,180 | 100,100,100 | 100,96,92 | 44,40


def test_batcher_answers_match_the_recognizer_and_a_full_queue_gets_503(recognizer) -> None:
    from crnn_ctc.preprocess import preprocess
    from crnn_ctc.serve.batcher import Batcher
    from crnn_ctc.serve.errors import ServeError

    names = sorted(LABELS)
    arrays = [preprocess(SAMPLES / name, recognizer.preprocess_config) for name in names]
    expected = recognizer.recognize([SAMPLES / name for name in names])

    async def scenario() -> tuple[list, list]:
        shared = Batcher(recognizer.engine, recognizer.decoder, max_batch=16, wait_s=0.05, max_queue=64)
        shared.start()
        try:
            # Each image in its own request, all at once: they meet in the batcher.
            answers = await asyncio.gather(
                *(shared.submit([a], [n], decode=True) for a, n in zip(arrays, names, strict=True))
            )
        finally:
            shared.stop()
        # One image per forward pass and room for two waiting: the second request of two cannot queue.
        narrow = Batcher(recognizer.engine, recognizer.decoder, max_batch=1, wait_s=0.0, max_queue=2)
        narrow.start()
        try:
            outcomes = await asyncio.gather(
                narrow.submit(arrays[:2], names[:2], decode=True),
                narrow.submit(arrays[2:4], names[2:4], decode=False),
                return_exceptions=True,
            )
        finally:
            narrow.stop()
        return answers, outcomes

    answers, outcomes = asyncio.run(scenario())
    for [answer], prediction in zip(answers, expected, strict=True):
        assert answer.decoded.text == prediction.text
        assert answer.decoded.confidence == pytest.approx(prediction.confidence, abs=1e-4)
    assert max(answer.batch_size for [answer] in answers) > 1
    assert [result.decoded.text for result in outcomes[0]] == [p.text for p in expected[:2]]
    assert isinstance(outcomes[1], ServeError) and outcomes[1].status == 503 and outcomes[1].code == "busy"
