"""What ``crnn read`` writes: plain text, JSON (every block, line and word with its box and confidence),
and hOCR 1.2 as Tesseract writes it, so that hocr-tools, OCRmyPDF and search indexers take it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any

from .._version import __version__
from .types import Block, Box, Line, Page, Word

# Version of the JSON layout below: a reader can refuse a newer one instead of misreading it.
JSON_FORMAT_VERSION = 1
HOCR_CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocr_photo ocrp_wconf"

# Characters XML 1.0 forbids (control characters other than tab, newline and carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def page_to_text(page: Page) -> str:
    """The page's text in reading order: lines on their own lines, blocks apart by a blank line."""
    text = page.text
    return text + "\n" if text else ""


def page_to_dict(page: Page) -> dict[str, Any]:
    """One page as JSON-ready data, keys in a fixed order."""
    return {
        "source": page.source,
        "page_number": page.page_number,
        "width": page.width,
        "height": page.height,
        "rotation": page.rotation,
        "skew": round(page.skew, 3),
        "text": page.text,
        "blocks": [_block_to_dict(block) for block in page.blocks],
        "figures": [box.as_list() for box in page.figures],
        "warnings": list(page.warnings),
    }


def _block_to_dict(block: Block) -> dict[str, Any]:
    return {"kind": block.kind, "box": block.box.as_list(), "lines": [_line_to_dict(line) for line in block.lines]}


def _line_to_dict(line: Line) -> dict[str, Any]:
    return {
        "text": line.text,
        "box": line.box.as_list(),
        "confidence": round(line.confidence, 6),
        "words": [
            {"text": word.text, "box": word.box.as_list(), "confidence": round(word.confidence, 6)}
            for word in line.words
        ],
    }


def page_to_json(pages: Sequence[Page]) -> str:
    """One JSON document holding ``pages`` (docs/reading_pages.md describes its fields)."""
    document = {
        "format_version": JSON_FORMAT_VERSION,
        "producer": f"crnn-ctc {__version__}",
        "pages": [page_to_dict(page) for page in pages],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def pages_to_hocr(pages: Sequence[Page], title: str = "") -> str:
    """One XHTML hOCR 1.2 document of ``pages``, laid out as Tesseract's: ``ocr_page`` ► ``ocr_carea`` ►
    ``ocr_par`` ► ``ocr_line`` ► ``ocrx_word`` (with ``x_wconf``), and ``ocr_photo`` for pictures. Ids
    are numbered within each page (``word_2_7``: the seventh word of the second page)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
        " <head>\n"
        f"  <title>{_text(title)}</title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f'  <meta name="ocr-system" content="crnn-ctc {_text(__version__)}"/>\n'
        f'  <meta name="ocr-capabilities" content="{HOCR_CAPABILITIES}"/>\n'
        " </head>\n"
        " <body>\n"
    ]
    for index, page in enumerate(pages, start=1):
        parts.append(_hocr_page(page, index))
    parts.append(" </body>\n</html>\n")
    return "".join(parts)


def _hocr_page(page: Page, index: int) -> str:
    # ppageno counts from 0, as Tesseract writes it; the image's name is a quoted hOCR string.
    image = page.source.replace("\\", "\\\\").replace('"', '\\"')
    page_title = f'image "{image}"; bbox 0 0 {page.width} {page.height}; ppageno {page.page_number - 1}'
    out = [f'  <div class="ocr_page" id="page_{index}" title="{_text(page_title)}">\n']
    blocks = lines = words = 0
    for block in page.blocks:
        if not block.lines:
            continue
        blocks += 1
        bbox = _bbox(block.box)
        out.append(f'   <div class="ocr_carea" id="block_{index}_{blocks}" title="{bbox}">\n')
        out.append(f'    <p class="ocr_par" id="par_{index}_{blocks}" title="{bbox}">\n')
        for line in block.lines:
            lines += 1
            out.append(f'     <span class="ocr_line" id="line_{index}_{lines}" title="{_bbox(line.box)}">')
            for word in _words(line):
                words += 1
                title = f"{_bbox(word.box)}; x_wconf {_wconf(word.confidence)}"
                out.append(f'\n      <span class="ocrx_word" id="word_{index}_{words}" title="{title}">')
                out.append(f"{_text(word.text)}</span>")
            out.append("\n     </span>\n")
        out.append("    </p>\n   </div>\n")
    for figure in page.figures:
        blocks += 1
        out.append(f'   <div class="ocr_photo" id="block_{index}_{blocks}" title="{_bbox(figure)}"></div>\n')
    out.append("  </div>\n")
    return "".join(out)


def _words(line: Line) -> tuple[Word, ...]:
    """A line's words; a line read without word boxes is one word, so its text still reaches hOCR readers."""
    if line.words or not line.text:
        return line.words
    return (Word(line.text, line.box, line.confidence),)


def _bbox(box: Box) -> str:
    return f"bbox {box.x0} {box.y0} {box.x1} {box.y1}"


def _wconf(confidence: float) -> int:
    return max(0, min(100, round(confidence * 100)))


def _text(value: str) -> str:
    """Escaped for XHTML text and attributes, without the characters XML cannot hold."""
    return html.escape(_NOT_XML.sub("", value), quote=True)
