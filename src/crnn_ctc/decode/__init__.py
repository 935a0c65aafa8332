"""Turning per-step class log-probabilities into text and one confidence.

Works on NumPy arrays only, so every backend (PyTorch, ONNX Runtime) and the service share it. A
decoder takes ``log_probs`` of shape (N, T, classes), log-softmax, and each sample's valid length (N,).

Decoders: ``auto`` (the default: greedy, and beam search with the English word prior where the model is
unsure: ``auto.py``), ``greedy`` (best path), ``beam`` (CTC prefix beam search, with an optional word prior:
``word_prior.py``) and ``lexicon`` (the CRNN paper's lexicon search). Every one reports the same
confidence: P(text | image), the probability the model gives the returned text, summed over all its
CTC alignments (docs/confidence.md).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..charset import Charset
from ..errors import ConfigError
from . import ctc
from .auto import GREEDY_ABOVE, WIDER, AutoDecoder, reads_english
from .base import Decoded, Decoder, allowed_classes
from .beam import BeamSearchDecoder, prefix_beam_search
from .bktree import BKTree
from .greedy import GreedyDecoder
from .lexicon import ImageLexicons, Lexicon, LexiconError, NeighbourIndex
from .lexicon_search import LexiconDecoder
from .word_prior import WORDFREQ, WordListError, WordPrior, WordPriorSettings, load_word_prior

DECODERS: tuple[str, ...] = ("auto", "greedy", "beam", "lexicon")


# A mapping of per-image lexicons as ``DecoderOptions`` holds it: (image, words) pairs, hashable.
ImageWordPairs = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class DecoderOptions:
    """Settings of the decoders; each decoder reads the ones it uses. Hashable, so that equal options can key
    a cache of built decoders (the service's): words given as a list or a mapping are kept as tuples.

    ``lexicon``: a file (one word a line), the words, or a built ``Lexicon`` (to share its index between
    recognizers). ``image_lexicons``: a TSV file (``IMAGE<TAB>word,word,...``), a mapping, or an
    ``ImageLexicons``. ``allow``/``block``: symbols the text may only / may not contain (every decoder).
    ``word_prior``: ``"wordfreq"`` (English), a word list file (a word and optional count a line) or a built
    ``WordPrior``, for the beam decoder; ``prior_weight``/``prior_bonus`` say how much it counts (None: the
    defaults of ``WordPriorSettings``, chosen in docs/word_prior.md). ``greedy_above``: the ``auto`` decoder
    keeps greedy readings at least this confident and reads the others again with the beam and the prior;
    ``wider``: it first reads them this much wider too, where the images are at hand (None: not).
    """

    beam_width: int = 10
    lexicon: str | Path | Iterable[str] | Lexicon | None = None
    image_lexicons: str | Path | Mapping[str, Iterable[str]] | ImageWordPairs | ImageLexicons | None = None
    max_edit_distance: int = 3
    full_search_limit: int = 1000
    lexicon_index: NeighbourIndex = "auto"
    allow: str | None = None
    block: str | None = None
    word_prior: str | Path | WordPrior | None = None
    prior_weight: float | None = None
    prior_bonus: float | None = None
    greedy_above: float = GREEDY_ABOVE
    wider: float | None = WIDER

    def __post_init__(self) -> None:
        if self.lexicon is not None and not isinstance(self.lexicon, (str, Path, Lexicon, tuple)):
            object.__setattr__(self, "lexicon", tuple(self.lexicon))
        if isinstance(self.image_lexicons, Mapping):
            pairs = tuple((name, tuple(words)) for name, words in self.image_lexicons.items())
            object.__setattr__(self, "image_lexicons", pairs)


def make_decoder(
    name: Literal["auto", "greedy", "beam", "lexicon"] | str, charset: Charset, options: DecoderOptions | None = None
) -> Decoder:
    """The decoder called ``name`` for ``charset``; a lexicon file is read (and indexed on first use) here."""
    options = options or DecoderOptions()
    has_lexicon = options.lexicon is not None or options.image_lexicons is not None
    has_weights = options.prior_weight is not None or options.prior_bonus is not None
    if options.word_prior is None and has_weights and name != "auto":
        raise ConfigError("a word prior weight or bonus was given without a word prior (--word-prior wordfreq|FILE)")
    if options.word_prior is not None and name not in ("beam", "auto"):
        raise ConfigError(f"a word prior was given, but the {name} decoder does not use one; use the beam decoder")
    if name == "auto":
        if has_lexicon:
            raise ConfigError("a lexicon was given, but the auto decoder does not use one; use the lexicon decoder")
        # English words where the charset spells them, unless another word list is named.
        source = options.word_prior if options.word_prior is not None else WORDFREQ if reads_english(charset) else None
        prior_options = DecoderOptions(
            word_prior=source, prior_weight=options.prior_weight, prior_bonus=options.prior_bonus
        )

        def load_prior() -> WordPrior:
            prior = _word_prior(prior_options)
            assert prior is not None
            return prior

        return AutoDecoder(
            charset, word_prior=load_prior if source is not None else None, greedy_above=options.greedy_above,
            beam_width=options.beam_width, allow=options.allow, block=options.block, wider=options.wider,
        )  # fmt: skip
    if name == "greedy" or name == "beam":
        if has_lexicon:
            raise ConfigError(f"a lexicon was given, but the {name} decoder does not use one; use the lexicon decoder")
        if name == "greedy":
            return GreedyDecoder(charset, allow=options.allow, block=options.block)
        return BeamSearchDecoder(
            charset, beam_width=options.beam_width, allow=options.allow, block=options.block,
            word_prior=_word_prior(options),
        )  # fmt: skip
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


def _word_prior(options: DecoderOptions) -> WordPrior | None:
    source = options.word_prior
    if source is None or isinstance(source, WordPrior):
        return source
    defaults = WordPriorSettings()
    settings = WordPriorSettings(
        weight=defaults.weight if options.prior_weight is None else options.prior_weight,
        bonus=defaults.bonus if options.prior_bonus is None else options.prior_bonus,
    )
    return _loaded_word_prior(str(source), settings)


@functools.lru_cache(maxsize=4)
def _loaded_word_prior(source: str, settings: WordPriorSettings) -> WordPrior:
    """Word priors built once per process: wordfreq's list takes a second to load and sort."""
    return load_word_prior(source, settings)


def _lexicon(
    source: str | Path | Iterable[str] | Lexicon | None, charset: Charset, index: NeighbourIndex
) -> Lexicon | None:
    if source is None or isinstance(source, Lexicon):
        return source
    if isinstance(source, (str, Path)):
        return Lexicon.read(source, charset, index=index)
    return Lexicon(source, charset, index=index)


def chosen_decoder(decoder: str | None, *, lexicon: bool, word_prior: bool, default: str) -> str:
    """The decoder a request means (a command line, a service request), the one rule for both: a decoder
    named is used; else a lexicon means the lexicon decoder, a word prior beam search, and nothing the
    caller's ``default``."""
    if decoder is not None:
        return decoder
    return "lexicon" if lexicon else "beam" if word_prior else default


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
    "GREEDY_ABOVE",
    "WIDER",
    "WORDFREQ",
    "AutoDecoder",
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
    "WordListError",
    "WordPrior",
    "WordPriorSettings",
    "allowed_classes",
    "chosen_decoder",
    "ctc",
    "make_decoder",
    "prefix_beam_search",
]
