"""Reading whole pages: find the text lines of a document image in reading order, then read them with a
``Recognizer``. ``crnn read``, ``Recognizer.read_page`` and the service's ``POST /v1/read`` use it."""

from __future__ import annotations

from .reader import PageOptions, PageReader
from .types import Block, Box, Line, Page, Word

__all__ = ["Block", "Box", "Line", "Page", "PageOptions", "PageReader", "Word"]
