"""Weight averaging of trained models: one model whose weights are a weighted mean of several.

Why: models fine-tuned from one starting point stay in one basin of the loss, so the mean of their
weights reads better than each of them (Wortsman et al., "Model soups", 2022), and the mean of a
fine-tuned model with its start keeps what the start knew while gaining what the round taught
(WiSE-FT, Wortsman et al., 2022). The rounds continued from the bundled v8 read the rendered
held-out sets better and the real words no better; their average with v8 kept most of both
(docs/training_recipes.md). Averaging only makes sense for models of one architecture, charset and
preprocessing, ideally with one ancestor.

Batch norm's running statistics are averaged like the weights; its batch counter takes the largest,
and any other integer buffer must be equal in every model.
A confidence temperature is not carried over: it was fitted to another network (`crnn calibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .bundle import ModelBundle, file_sha256, load_bundle, save_bundle
from .errors import ConfigError
from .files import refuse_same_file


@dataclass(frozen=True)
class Ingredient:
    """One model file in an average, with its share of the weights."""

    path: Path
    weight: float


def ingredients(paths: Sequence[str | Path], weights: Sequence[float] | None = None) -> list[Ingredient]:
    """``paths`` with their shares (equal when ``weights`` is None), normalised to sum to 1."""
    if len(paths) < 2:
        raise ConfigError(f"averaging needs at least two model files, got {len(paths)}")
    if weights is None:
        weights = [1.0] * len(paths)
    if len(weights) != len(paths):
        raise ConfigError(f"{len(weights)} weights for {len(paths)} model files: give one weight per file")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ConfigError(f"weights must be finite and not negative, got {list(weights)}")
    total = sum(weights)
    if total <= 0:
        raise ConfigError("the weights sum to 0: at least one must be positive")
    return [Ingredient(Path(p), w / total) for p, w in zip(paths, weights, strict=True)]


def _check_same_kind(first: ModelBundle, other: ModelBundle) -> None:
    """Refuse models whose weights do not mean the same thing position by position."""
    differences = []
    if first.config.to_dict() != other.config.to_dict():
        differences.append("architecture " + _dict_difference(first.config.to_dict(), other.config.to_dict()))
    if first.charset.symbols != other.charset.symbols:
        differences.append(_charset_difference(list(first.charset.symbols), list(other.charset.symbols)))
    if first.preprocess.to_dict() != other.preprocess.to_dict():
        differences.append("preprocessing " + _dict_difference(first.preprocess.to_dict(), other.preprocess.to_dict()))
    if differences:
        raise ConfigError(
            f"{other.path} cannot be averaged with {first.path}: "
            + "; ".join(differences)
            + ". Average only models of one architecture, charset and preprocessing (fine-tuned from one model)."
        )


def _dict_difference(first: dict[str, Any], other: dict[str, Any]) -> str:
    keys = sorted(key for key in first.keys() | other.keys() if first.get(key) != other.get(key))
    return ", ".join(f"{key} {other.get(key)!r} against {first.get(key)!r}" for key in keys)


def _charset_difference(first: list[str], other: list[str]) -> str:
    if len(first) != len(other):
        return f"charset of {len(other)} symbols against {len(first)}"
    position = next(i for i, (a, b) in enumerate(zip(first, other, strict=True)) if a != b)
    return f"charset symbol {position} is {other[position]!r} against {first[position]!r}"


def average_models(parts: Sequence[Ingredient]) -> ModelBundle:
    """A model whose every floating-point tensor is the weighted mean of the ingredients' (in float64)."""
    import torch

    bundles = [load_bundle(part.path) for part in parts]
    for other in bundles[1:]:
        _check_same_kind(bundles[0], other)
    states = [bundle.model.state_dict() for bundle in bundles]
    averaged: dict[str, torch.Tensor] = {}
    for name, tensor in states[0].items():
        if tensor.is_floating_point():
            total = sum(part.weight * state[name].double() for part, state in zip(parts, states, strict=True))
            averaged[name] = torch.as_tensor(total).to(tensor.dtype)
        elif name.endswith("num_batches_tracked"):  # how many batches the statistics have seen, at most
            averaged[name] = torch.stack([state[name] for state in states]).max()
        elif all(torch.equal(state[name], tensor) for state in states):
            averaged[name] = tensor
        else:
            raise ConfigError(f"the integer tensor {name} differs between the models: it cannot be averaged")
    result = bundles[0]
    result.path = None  # the first ingredient's file is not this model's
    result.model.load_state_dict(averaged, strict=True)
    result.calibration = {}
    result.provenance = {
        "initialisation": "weight average",
        "averaged_from": [_describe(part, bundle) for part, bundle in zip(parts, bundles, strict=True)],
    }
    return result


def _describe(part: Ingredient, bundle: ModelBundle) -> dict[str, Any]:
    return {
        "file": str(part.path),  # as given: several ingredients are often all called best.safetensors
        "sha256": file_sha256(part.path),
        "weight": round(part.weight, 6),
        "provenance": bundle.provenance,
    }


def average_files(
    paths: Sequence[str | Path], out: str | Path, weights: Sequence[float] | None = None
) -> list[Ingredient]:
    """Average the model files ``paths`` and write the result to ``out`` atomically; returns the shares."""
    parts = ingredients(paths, weights)
    refuse_same_file(out, paths, "the output")
    save_bundle(average_models(parts), out)
    return parts
