"""``synth:`` training sources: images rendered on the fly, fresh every epoch, never written to disk.

Spec: ``synth:`` or ``synth:preset=heavy,fonts=DIR,words=FILE,config=JSON,split=train`` (optionally
``@WEIGHT``); ``config`` is a file of generator settings as ``crnn synth --config`` takes (it may name a
preset); ``split`` keeps one side of the fixed font split (``train``, ``heldout``, or ``all``, the default). Sample i
of a seed is always the same image, so a resumed run sees exactly what it would have seen.

Importing this module registers the ``synth:`` scheme with ``sources.register_scheme``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..charset import Charset
from ..data.readers import RecognitionDataset
from ..errors import ConfigError
from ..preprocess import PreprocessConfig
from .sources import PreparedSource, SourceSpec, register_scheme

SYNTH_PREFIX = "synth:"
_OPTIONS = ("preset", "fonts", "words", "config", "split")
# Index space of a synthetic source: far more than any run draws, so it never repeats.
_SYNTH_LENGTH = 1 << 40


class _GeneratedImages:
    """The generator seen as a sample source: (PIL image, label) by index; a size is known once drawn."""

    def __init__(self, generator: Any, name: str) -> None:
        self.generator = generator
        self.path = Path(name)

    def __len__(self) -> int:
        return _SYNTH_LENGTH

    def __getitem__(self, index: int) -> tuple[Any, str]:
        image, label = self.generator.sample(index)
        return image, label

    def sizes(self) -> list[tuple[int, int]]:
        raise TypeError("a synthetic source is unbounded: it has no list of sizes; a sample's is known once drawn")


def parse_synth_options(location: str) -> dict[str, str]:
    body = location[len(SYNTH_PREFIX) :]
    options: dict[str, str] = {}
    for part in filter(None, body.split(",")):
        key, _, value = part.partition("=")
        if key not in _OPTIONS or not value:
            raise ConfigError(f"{location!r}: expected synth:KEY=VALUE,... with KEY one of {', '.join(_OPTIONS)}")
        options[key] = value
    return options


def synthetic_source(spec: SourceSpec, charset: Charset, preprocess: PreprocessConfig, seed: int) -> PreparedSource:
    from ..synth import SynthConfig, SynthGenerator, preset

    options = parse_synth_options(spec.location)
    if "config" in options and "preset" in options:
        raise ConfigError(f"{spec.location!r}: give preset= or config= (a config file may name its preset), not both")
    base = SynthConfig.from_file(options["config"]) if "config" in options else preset(options.get("preset", "default"))
    config = dataclasses.replace(base, height=preprocess.height)
    from ..synth.fonts import FONT_SPLITS

    split = options.get("split", "all")
    if split not in FONT_SPLITS:
        raise ConfigError(f"{spec.location!r}: split= must be one of {', '.join(FONT_SPLITS)}")
    generator = SynthGenerator.create(
        config, charset, options.get("fonts"), options.get("words"), seed=seed, split=split
    )
    dataset = RecognitionDataset(_GeneratedImages(generator, spec.location), charset, preprocess)
    return PreparedSource(spec.location, dataset, [], [], spec.weight, infinite=True)


register_scheme(SYNTH_PREFIX, synthetic_source)
