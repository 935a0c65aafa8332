"""The web page of ``crnn serve`` in a real headless browser: Debian's chromium driven by Selenium.

``make install`` (its ``browser`` target) installs chromium and chromium-driver; where they are missing
(not root, no apt-get) the tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from crnn_ctc.serve.launch import ServerProcess

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "crnn_ctc" / "assets" / "samples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_S = 60

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (`make browser`, as root): "
    f"chromium {'found' if CHROMIUM else 'missing'}, chromedriver {'found' if CHROMEDRIVER else 'missing'}",
)


def _labels() -> dict[str, str]:
    lines = (SAMPLES / "labels.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(["--threads", "1", "--log-level", "warning"]) as process:
        yield process


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager try to download a browser
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # --no-sandbox: chromium refuses to run as root (CI) with its sandbox on.
    flags = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900")
    for flag in flags:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _finished_results(driver, count: int) -> list:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def finished(_driver):
        items = driver.find_elements(By.CSS_SELECTOR, "#results li.result")
        done = [item for item in items if item.get_attribute("data-state") in ("done", "error")]
        return done if len(items) >= count and len(done) == len(items) else False

    return WebDriverWait(driver, WAIT_S).until(finished)


def test_page_reads_an_uploaded_sample(server: ServerProcess, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    labels = _labels()
    browser.get(server.url + "/")
    WebDriverWait(browser, WAIT_S).until(lambda d: "small" in d.find_element(By.ID, "model").text)
    name = "sample_04.png"
    browser.find_element(By.ID, "files").send_keys(str(SAMPLES / name))
    [item] = _finished_results(browser, 1)
    assert item.get_attribute("data-state") == "done", item.text
    assert item.get_attribute("data-name") == name
    assert item.find_element(By.CLASS_NAME, "text").text == labels[name]
    assert 0.0 < float(item.find_element(By.CLASS_NAME, "confidence").text) <= 1.0
    image = item.find_element(By.TAG_NAME, "img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0


def test_page_reads_with_the_word_prior_when_chosen(server: ServerProcess, browser) -> None:
    """The decoder menu's "preferring English words" sends word_prior=wordfreq: the line reads as labelled."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    labels = _labels()
    browser.get(server.url + "/")
    Select(browser.find_element(By.ID, "decoder")).select_by_value("words")
    name = "sample_08.png"  # a printed line
    browser.find_element(By.ID, "files").send_keys(str(SAMPLES / name))
    [item] = _finished_results(browser, 1)
    assert item.get_attribute("data-state") == "done", item.text
    assert item.find_element(By.CLASS_NAME, "text").text == labels[name]


def test_page_reads_several_files_and_shows_a_bad_one_as_an_error(server: ServerProcess, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By

    labels = _labels()
    browser.get(server.url + "/")
    bad = tmp_path / "not-an-image.png"
    bad.write_bytes(b"plain text, not pixels")
    picked = [SAMPLES / "sample_00.png", SAMPLES / "sample_06.png", bad, SAMPLES / "sample_03.png"]
    browser.find_element(By.ID, "files").send_keys("\n".join(str(path) for path in picked))
    items = _finished_results(browser, len(picked))
    shown = {item.get_attribute("data-name"): item for item in items}
    assert set(shown) == {path.name for path in picked}
    for path in picked[:2] + picked[3:]:
        item = shown[path.name]
        assert item.get_attribute("data-state") == "done", item.text
        assert item.find_element(By.CLASS_NAME, "text").text == labels[path.name]
    failed = shown[bad.name]
    assert failed.get_attribute("data-state") == "error"
    assert "not an image" in failed.find_element(By.CLASS_NAME, "error").text


def test_api_docs_render_offline(server: ServerProcess, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url + "/docs")
    paths = WebDriverWait(browser, WAIT_S).until(
        lambda d: [e.text for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")] or False
    )
    assert "/v1/recognize" in paths and "/health" in paths


def test_page_reads_a_dropped_image(server: ServerProcess, browser) -> None:
    import base64

    from selenium.webdriver.common.by import By

    labels = _labels()
    name = "sample_07.png"
    browser.get(server.url + "/")
    # What a drag from the desktop delivers: a drop event whose DataTransfer holds the file.
    browser.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], arguments[1], {type: "image/png"}));
        const zone = document.getElementById("drop");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        """,
        base64.b64encode((SAMPLES / name).read_bytes()).decode(),
        name,
    )
    [item] = _finished_results(browser, 1)
    assert item.get_attribute("data-state") == "done" and item.get_attribute("data-name") == name
    assert item.find_element(By.CLASS_NAME, "text").text == labels[name]


def test_a_dropped_page_is_shown_with_its_line_boxes_and_text(server: ServerProcess, browser) -> None:
    import base64

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from drawn_pages import LINES, drawn_page, encoded

    image, lines = drawn_page()
    browser.get(server.url + "/")
    browser.execute_script(
        """
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "page.png", {type: "image/png"}));
        const zone = document.getElementById("page-drop");
        zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
        """,
        base64.b64encode(encoded(image, "PNG")).decode(),
    )
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_element(By.ID, "pages").get_attribute("data-state") in ("done", "error")
    )
    assert browser.find_element(By.ID, "pages").get_attribute("data-state") == "done", browser.find_element(
        By.ID, "page-status"
    ).text
    items = browser.find_elements(By.CSS_SELECTOR, "#pages .page-lines li")
    assert len(items) == LINES
    read_words = " ".join(item.text for item in items).split()
    assert sum(word in read_words for word in " ".join(lines).split()) >= 0.8 * len(" ".join(lines).split())

    def box_colour(item) -> list[int]:
        """The colour drawn on the canvas at the middle of the top edge of ``item``'s line box."""
        x0, y0, x1, _ = (int(value) for value in item.get_attribute("data-box").split(","))
        return browser.execute_script(
            "const canvas = document.querySelector('#pages canvas');"
            "return Array.from(canvas.getContext('2d').getImageData(arguments[0], arguments[1], 1, 1).data);",
            (x0 + x1) // 2, y0,
        )  # fmt: skip

    blue, orange = [0, 102, 255], [255, 102, 0]
    assert all(box_colour(item)[:3] == blue for item in items)  # every line's box is drawn over the page
    items[2].click()
    assert "selected" in items[2].get_attribute("class")
    assert box_colour(items[2])[:3] == orange and box_colour(items[1])[:3] == blue
