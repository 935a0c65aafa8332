"""Turning per-step class log-probabilities into text and one confidence.

Works on NumPy arrays only, so every backend (PyTorch, ONNX Runtime) and the service share it. A
decoder takes ``log_probs`` of shape (N, T, classes), log-softmax, and each sample's valid length (N,).

Decoders: ``greedy`` (best path), ``beam`` (CTC prefix beam search) and ``lexicon`` (the CRNN paper's
lexicon search). Every one reports the same confidence: P(text | image), the probability the model
gives the returned text, summed over all its CTC alignments (docs/confidence.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..charset import Charset
from ..errors import ConfigError
from . import ctc
from .base import Decoded, Decoder, allowed_classes
from .beam import BeamSearchDecoder, prefix_beam_search
from .bktree import BKTree
from .greedy import GreedyDecoder
from .lexicon import ImageLexicons, Lexicon, LexiconError, NeighbourIndex
from .lexicon_search import LexiconDecoder

DECODERS: tuple[str, ...] = ("greedy", "beam", "lexicon")


# A mapping of per-image lexicons as ``DecoderOptions`` holds it: (image, words) pairs, hashable.
ImageWordPairs = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class DecoderOptions:
    """Settings of the decoders; each decoder reads the ones it uses. Hashable, so that equal options can key
    a cache of built decoders (the service's): words given as a list or a mapping are kept as tuples.

    ``lexicon``: a file (one word a line), the words, or a built ``Lexicon`` (to share its index between
    recognizers). ``image_lexicons``: a TSV file (``IMAGE<TAB>word,word,...``), a mapping, or an
    ``ImageLexicons``. ``allow``/``block``: symbols the text may only / may not contain (every decoder).
    """

    beam_width: int = 10
    lexicon: str | Path | Iterable[str] | Lexicon | None = None
    image_lexicons: str | Path | Mapping[str, Iterable[str]] | ImageWordPairs | ImageLexicons | None = None
    max_edit_distance: int = 3
    full_search_limit: int = 1000
    lexicon_index: NeighbourIndex = "auto"
    allow: str | None = None
    block: str | None = None

    def __post_init__(self) -> None:
        if self.lexicon is not None and not isinstance(self.lexicon, (str, Path, Lexicon, tuple)):
            object.__setattr__(self, "lexicon", tuple(self.lexicon))
        if isinstance(self.image_lexicons, Mapping):
            pairs = tuple((name, tuple(words)) for name, words in self.image_lexicons.items())
            object.__setattr__(self, "image_lexicons", pairs)


def make_decoder(
    name: Literal["greedy", "beam", "lexicon"] | str, charset: Charset, options: DecoderOptions | None = None
) -> Decoder:
    """The decoder called ``name`` for ``charset``; a lexicon file is read (and indexed on first use) here."""
    options = options or DecoderOptions()
    has_lexicon = options.lexicon is not None or options.image_lexicons is not None
    if name == "greedy" or name == "beam":
        if has_lexicon:
            raise ConfigError(f"a lexicon was given, but the {name} decoder does not use one; use the lexicon decoder")
        if name == "greedy":
            return GreedyDecoder(charset, allow=options.allow, block=options.block)
        return BeamSearchDecoder(charset, beam_width=options.beam_width, allow=options.allow, block=options.block)
    if name == "lexicon":
        if not has_lexicon:
            raise ConfigError("the lexicon decoder needs a lexicon (--lexicon FILE) or per-image lexicons")
        return LexiconDecoder(
            charset,
            _lexicon(options.lexicon, charset, options.lexicon_index),
            image_lexicons=_image_lexicons(options.image_lexicons, charset),
            max_edit_distance=options.max_edit_distance,
            full_search_limit=options.full_search_limit,
            allow=options.allow,
            block=options.block,
        )
    raise ConfigError(f"unknown decoder {name!r}; known: {', '.join(DECODERS)}")


def _lexicon(
    source: str | Path | Iterable[str] | Lexicon | None, charset: Charset, index: NeighbourIndex
) -> Lexicon | None:
    if source is None or isinstance(source, Lexicon):
        return source
    if isinstance(source, (str, Path)):
        return Lexicon.read(source, charset, index=index)
    return Lexicon(source, charset, index=index)


def _image_lexicons(
    source: str | Path | Mapping[str, Iterable[str]] | ImageWordPairs | ImageLexicons | None, charset: Charset
) -> ImageLexicons | None:
    if source is None or isinstance(source, ImageLexicons):
        return source
    if isinstance(source, (str, Path)):
        return ImageLexicons.read(source, charset)
    return ImageLexicons(dict(source), charset)


__all__ = [
    "DECODERS",
    "BKTree",
    "BeamSearchDecoder",
    "Decoded",
    "Decoder",
    "DecoderOptions",
    "GreedyDecoder",
    "ImageLexicons",
    "Lexicon",
    "LexiconDecoder",
    "LexiconError",
    "allowed_classes",
    "ctc",
    "make_decoder",
    "prefix_beam_search",
]
