"""``POST /v1/read``: whole pages through the service, in process (the app with the bundled model behind
Starlette's test client): a page drawn here with known lines, as a multipart file, as JSON base64 and as
a PDF; hOCR and text answers; the page limits and undecodable documents."""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.exceptions import StarletteDeprecationWarning

from crnn_ctc.serve.app import create_app
from crnn_ctc.serve.config import ServeConfig

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 in its test client, and still works with the httpx installed here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from drawn_pages import LINES, MAX_PAGE_PIXELS, MAX_PAGES, PAGE_DPI, PAGE_SIZE, drawn_page, encoded


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    config = ServeConfig(
        threads=1, max_page_pixels=MAX_PAGE_PIXELS, max_pages=MAX_PAGES, page_dpi=PAGE_DPI, log_level="warning"
    )
    with TestClient(create_app(config)) as http:
        yield http


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["code"] == code, error
    return str(error["message"])


def _words_found(text: str, lines: tuple[str, ...]) -> float:
    """The share of the page's words read, in order (1 - word error rate, at least 0)."""
    from rapidfuzz.distance import Levenshtein

    expected = " ".join(lines).split()
    return max(0.0, 1.0 - Levenshtein.distance(text.split(), expected) / len(expected))


def _check_page(page: dict, lines: tuple[str, ...], page_number: int = 1) -> None:
    assert page["page_number"] == page_number
    # A PDF page renders at the ceiling of its size in points times the resolution: a pixel more at most.
    assert 0 <= page["width"] - PAGE_SIZE[0] <= 1 and 0 <= page["height"] - PAGE_SIZE[1] <= 1
    assert page["rotation"] == 0 and page["skew"] == 0.0 and page["figures"] == []
    read = [line for block in page["blocks"] for line in block["lines"]]
    assert len(read) == len(lines), [line["text"] for line in read]
    for line, top in zip(read, (60 + 62 * index for index in range(LINES)), strict=True):
        x0, y0, x1, y1 = line["box"]
        assert 60 <= x0 < x1 <= PAGE_SIZE[0] and top - 5 <= y0 < y1 <= top + 40, line
        assert 0.0 <= line["confidence"] <= 1.0
        assert [word["text"] for word in line["words"]] == line["text"].split()
        assert all(x0 <= word["box"][0] < word["box"][2] <= x1 for word in line["words"])
    assert _words_found(page["text"], lines) >= 0.8, (page["text"], lines)


def _pages_read(client: TestClient) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == "crnn_pages_total":
                return sample.value
    raise AssertionError("no crnn_pages_total in /metrics")


def test_a_page_posted_as_a_file_is_read_line_by_line(client: TestClient) -> None:
    image, lines = drawn_page()
    pages_before = _pages_read(client)
    response = client.post("/v1/read", files={"image": ("page.png", encoded(image, "PNG"), "image/png")})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decoder"] == "auto" and answer["total_ms"] > 0  # as crnn read
    [page] = answer["pages"]
    assert page["source"] == "page.png"
    _check_page(page, lines)
    assert answer["text"] == page["text"]
    assert _pages_read(client) == pages_before + 1
    greedy = client.post(
        "/v1/read", files={"image": ("page.png", encoded(image, "PNG"), "image/png")}, data={"decoder": "greedy"}
    )
    assert greedy.status_code == 200 and greedy.json()["decoder"] == "greedy", greedy.text


def test_a_page_posted_as_json_base64_with_options(client: TestClient) -> None:
    image, lines = drawn_page()
    body = {
        "image": {"data": base64.b64encode(encoded(image, "JPEG", quality=92)).decode(), "name": "scan.jpg"},
        "decoder": "beam", "beam_width": 4, "deskew": False, "orientation": False, "check_spaces": False,
    }  # fmt: skip
    response = client.post("/v1/read", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decoder"] == "beam"
    [page] = answer["pages"]
    assert page["source"] == "scan.jpg"
    _check_page(page, lines)


def test_a_pdf_and_a_multi_page_tiff_give_their_pages(client: TestClient) -> None:
    image, lines = drawn_page()
    pdf = encoded(image, "PDF", resolution=PAGE_DPI)  # rendered back at --page-dpi: the same pixels
    response = client.post("/v1/read", files={"image": ("page.pdf", pdf, "application/pdf")})
    assert response.status_code == 200, response.text
    [page] = response.json()["pages"]
    _check_page(page, lines)
    blank = Image.new("L", (300, 200), 255)
    tiff = encoded(image, "TIFF", save_all=True, append_images=[blank])
    response = client.post("/v1/read", files={"image": ("book.tiff", tiff, "image/tiff")})
    assert response.status_code == 200, response.text
    first, second = response.json()["pages"]
    _check_page(first, lines)
    assert second["page_number"] == 2 and second["blocks"] == [] and second["text"] == ""


def test_hocr_and_text_formats(client: TestClient) -> None:
    image, lines = drawn_page()
    files = {"image": ("page.png", encoded(image, "PNG"), "image/png")}
    hocr = client.post("/v1/read", files=files, data={"format": "hocr"})
    assert hocr.status_code == 200, hocr.text
    assert hocr.headers["content-type"].startswith("application/xhtml+xml")
    assert "ocr_page" in hocr.text and hocr.text.count('class="ocr_line"') == LINES
    text = client.post("/v1/read", files=files, data={"format": "text", "orientation": "false"})
    assert text.status_code == 200, text.text
    assert text.headers["content-type"].startswith("text/plain")
    assert len([line for line in text.text.splitlines() if line]) == LINES
    assert _words_found(text.text, lines) >= 0.8


def test_a_page_over_the_pixel_limit_is_refused_with_413(client: TestClient) -> None:
    big = Image.new("L", (1200, 1000), 255)  # 1.2 million pixels
    response = client.post("/v1/read", files={"image": ("big.png", encoded(big, "PNG"), "image/png")})
    message = _error(response, 413, "page_too_large")
    assert "big.png page 1" in message and "1,200,000" in message and "--max-page-pixels" in message
    pdf = encoded(big, "PDF", resolution=PAGE_DPI)
    message = _error(client.post("/v1/read", files={"image": ("big.pdf", pdf, "application/pdf")}), 413,
                     "page_too_large")  # fmt: skip
    assert "--max-page-pixels" in message and "--page-dpi" in message


def test_too_many_pages_are_refused_with_413(client: TestClient) -> None:
    small = Image.new("L", (100, 80), 255)
    tiff = encoded(small, "TIFF", save_all=True, append_images=[small] * MAX_PAGES)
    message = _error(client.post("/v1/read", files={"image": ("many.tif", tiff, "image/tiff")}), 413, "too_many_pages")
    assert f"{MAX_PAGES + 1} pages" in message and "--max-pages" in message


def test_an_undecodable_document_is_refused_with_422_naming_it(client: TestClient) -> None:
    garbage = bytes(range(256)) * 8
    error = client.post("/v1/read", files={"image": ("scan.png", garbage, "image/png")})
    message = _error(error, 422, "bad_document")
    assert "scan.png" in message and error.json()["error"]["images"][0]["name"] == "scan.png"
    body = {"image": {"data": base64.b64encode(b"%PDF-1.7 but nothing after").decode(), "name": "broken.pdf"}}
    assert "broken.pdf" in _error(client.post("/v1/read", json=body), 422, "bad_document")


def test_requests_that_do_not_fit_are_refused(client: TestClient) -> None:
    image, _ = drawn_page()
    data = encoded(image, "PNG")
    two = [("image", ("a.png", data, "image/png")), ("image", ("b.png", data, "image/png"))]
    assert "one document" in _error(client.post("/v1/read", files=two), 422, "invalid_request")
    _error(client.post("/v1/read", json={"image": "!!"}), 400, "malformed_base64")
    _error(client.post("/v1/read", json={"images": []}), 422, "invalid_request")
    _error(client.post("/v1/read", files={"image": ("a.png", data)}, data={"format": "pdf"}), 422, "invalid_request")
    _error(client.post("/v1/read", content=data, headers={"content-type": "image/png"}), 415, "unsupported_media_type")


def test_the_page_limits_are_described_and_documented(client: TestClient) -> None:
    limits = client.get("/v1/model").json()["limits"]
    assert (limits["max_page_pixels"], limits["max_pages"], limits["page_dpi"]) == (MAX_PAGE_PIXELS, MAX_PAGES,
                                                                                   PAGE_DPI)  # fmt: skip
    schema = client.get("/openapi.json").json()
    assert "/v1/read" in schema["paths"] and "ReadJSON" in schema["components"]["schemas"]
    assert "PageResult" in schema["components"]["schemas"]


def test_reading_past_the_time_budget_is_stopped_with_503() -> None:
    image, _ = drawn_page()
    with TestClient(create_app(ServeConfig(threads=1, request_timeout_s=0.01, log_level="warning"))) as http:
        response = http.post("/v1/read", files={"image": ("page.png", encoded(image, "PNG"), "image/png")})
        assert "--request-timeout-s" in _error(response, 503, "timeout")


def test_a_page_is_read_as_the_recognizer_reads_it(client: TestClient) -> None:
    from crnn_ctc import Recognizer
    from crnn_ctc.decode import DecoderOptions, make_decoder
    from crnn_ctc.page.reader import PageOptions

    image, _ = drawn_page()
    fields = {"decoder": "beam", "beam_width": "4", "block": "q"}
    response = client.post("/v1/read", files={"image": ("page.png", encoded(image, "PNG"), "image/png")}, data=fields)
    assert response.status_code == 200, response.text
    served = client.app.state.service.recognizer  # type: ignore[attr-defined]
    beam = make_decoder("beam", served.charset, DecoderOptions(beam_width=4, block="q"))
    local = Recognizer(served.info, served.engine, beam)
    page = local.read_page(image, options=PageOptions(max_pixels=MAX_PAGE_PIXELS))
    [answer] = response.json()["pages"]
    assert answer["text"] == page.text
    lines = [line for block in answer["blocks"] for line in block["lines"]]
    assert [line["text"] for line in lines] == [line.text for line in page.lines]
    assert [line["confidence"] for line in lines] == pytest.approx([line.confidence for line in page.lines], abs=1e-4)
