"""Page output formats on hand-built pages: text, JSON (fields and key order) and hOCR (well-formed XHTML
laid out as Tesseract writes it)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from crnn_ctc.page.formats import JSON_FORMAT_VERSION, page_to_json, page_to_text, pages_to_hocr
from crnn_ctc.page.types import Block, Box, Line, Page, Word

XHTML = "{http://www.w3.org/1999/xhtml}"


def _page(source: str = "scan.png", page_number: int = 1) -> Page:
    first = Line(
        "Fish & <chips>",
        Box(10, 10, 210, 40),
        0.9,
        (Word("Fish", Box(10, 10, 70, 40), 0.95), Word("&", Box(80, 10, 95, 40), 0.5),
         Word("<chips>", Box(105, 10, 210, 40), 0.987)),
    )  # fmt: skip
    second = Line('it\'s "good"', Box(10, 50, 180, 80), 0.8)  # read without word boxes
    words = (Word("Second", Box(10, 120, 100, 150), 0.7), Word("block", Box(110, 120, 200, 150), 0.7))
    third = Line("Second block", Box(10, 120, 200, 150), 0.7, words)
    return Page(
        width=300, height=400,
        blocks=(Block(Box(10, 10, 210, 80), (first, second)), Block(Box(10, 120, 200, 150), (third,))),
        figures=(Box(20, 200, 280, 380),), rotation=90, skew=-1.25, source=source, page_number=page_number,
    )  # fmt: skip


def test_text_is_lines_in_reading_order_with_blank_lines_between_blocks() -> None:
    assert page_to_text(_page()) == 'Fish & <chips>\nit\'s "good"\n\nSecond block\n'
    assert page_to_text(Page(100, 100, ())) == ""


def test_json_holds_every_level_with_boxes_confidences_and_a_stable_key_order() -> None:
    document = json.loads(page_to_json([_page(), _page("doc.pdf", 2)]))
    assert list(document) == ["format_version", "producer", "pages"]
    assert document["format_version"] == JSON_FORMAT_VERSION
    page = document["pages"][0]
    assert list(page) == [
        "source", "page_number", "width", "height", "rotation", "skew", "text", "blocks", "figures", "warnings",
    ]  # fmt: skip
    assert (page["source"], page["page_number"], page["width"], page["height"]) == ("scan.png", 1, 300, 400)
    assert (page["rotation"], page["skew"]) == (90, -1.25)
    assert page["figures"] == [[20, 200, 280, 380]]
    assert [len(block["lines"]) for block in page["blocks"]] == [2, 1]
    assert list(page["blocks"][0]) == ["kind", "box", "lines"]
    line = page["blocks"][0]["lines"][0]
    assert list(line) == ["text", "box", "confidence", "words"]
    assert (line["text"], line["box"], line["confidence"]) == ("Fish & <chips>", [10, 10, 210, 40], 0.9)
    assert line["words"][2] == {"text": "<chips>", "box": [105, 10, 210, 40], "confidence": 0.987}
    assert page["blocks"][0]["lines"][1]["words"] == []
    assert page["text"] == _page().text
    assert document["pages"][1]["source"] == "doc.pdf" and document["pages"][1]["page_number"] == 2
    assert json.loads(page_to_json([]))["pages"] == []


def test_json_is_unicode_and_deterministic() -> None:
    page = Page(50, 20, (Block(Box(0, 0, 50, 20), (Line("café ½", Box(0, 0, 50, 20), 0.5),)),))
    text = page_to_json([page])
    assert "café ½" in text
    assert text == page_to_json([page])


def _classes(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if element.get("class") == name]


def test_hocr_is_well_formed_xhtml_laid_out_as_tesseract_writes_it() -> None:
    hocr = pages_to_hocr([_page(), _page('odd "name" & co.tif', 3)], title="two <pages>")
    root = ET.fromstring(hocr.encode("utf-8"))
    assert root.tag == f"{XHTML}html"
    head = root.find(f"{XHTML}head")
    assert head is not None and head.findtext(f"{XHTML}title") == "two <pages>"
    metas = {meta.get("name"): meta.get("content") for meta in head.iter(f"{XHTML}meta") if meta.get("name")}
    assert metas["ocr-system"].startswith("crnn-ctc ")
    assert {"ocr_page", "ocr_carea", "ocr_par", "ocr_line", "ocrx_word", "ocrp_wconf"} <= set(
        metas["ocr-capabilities"].split()
    )
    pages = _classes(root, "ocr_page")
    assert [page.get("id") for page in pages] == ["page_1", "page_2"]
    assert pages[0].get("title") == 'image "scan.png"; bbox 0 0 300 400; ppageno 0'
    assert pages[1].get("title") == 'image "odd \\"name\\" & co.tif"; bbox 0 0 300 400; ppageno 2'
    first = pages[0]
    assert [a.get("id") for a in _classes(first, "ocr_carea")] == ["block_1_1", "block_1_2"]
    assert [p.get("id") for p in _classes(first, "ocr_par")] == ["par_1_1", "par_1_2"]
    assert _classes(first, "ocr_carea")[0].get("title") == "bbox 10 10 210 80"
    lines = _classes(first, "ocr_line")
    assert [line.get("id") for line in lines] == ["line_1_1", "line_1_2", "line_1_3"]
    assert lines[0].get("title") == "bbox 10 10 210 40"
    words = _classes(first, "ocrx_word")
    assert [w.get("id") for w in words] == [f"word_1_{n}" for n in range(1, 7)]
    assert [w.text for w in words] == ["Fish", "&", "<chips>", 'it\'s "good"', "Second", "block"]
    assert words[0].get("title") == "bbox 10 10 70 40; x_wconf 95"
    assert words[2].get("title") == "bbox 105 10 210 40; x_wconf 99"
    assert words[3].get("title") == "bbox 10 50 180 80; x_wconf 80"  # a line without words: one word
    photos = _classes(first, "ocr_photo")
    assert [(p.get("id"), p.get("title")) for p in photos] == [("block_1_3", "bbox 20 200 280 380")]
    assert _classes(pages[1], "ocrx_word")[0].get("id") == "word_2_1"


def test_hocr_drops_characters_xml_cannot_hold_and_takes_no_pages() -> None:
    page = Page(40, 20, (Block(Box(0, 0, 40, 20), (Line("a\x0cb\x00c", Box(0, 0, 40, 20), 0.5),)),))
    root = ET.fromstring(pages_to_hocr([page]).encode("utf-8"))
    assert [w.text for w in _classes(root, "ocrx_word")] == ["abc"]
    empty = ET.fromstring(pages_to_hocr([]).encode("utf-8"))
    assert _classes(empty, "ocr_page") == []
