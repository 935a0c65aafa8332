"""``ConfigBase``: what every configuration dataclass shares, so each says only what is its own.

``to_dict`` (plain JSON-able values), ``from_dict`` (unknown keys are a ``ConfigError`` naming them
and the known ones; JSON lists come back as tuples where the field holds a tuple) and ``from_file``
(a JSON, YAML or TOML object of the fields to change from the defaults).
"""

from __future__ import annotations

import json
import sys
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import ConfigError
from .extras import require

Config = TypeVar("Config", bound="ConfigBase")


class ConfigBase:
    """Mixed into a frozen dataclass. ``config_kind`` names its keys in messages ("model parameters")."""

    config_kind: ClassVar[str] = "config fields"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Config], values: dict[str, Any], origin: str = "") -> Config:
        """The config from ``values``; ``origin`` (a file name, say) starts every error message."""
        prefix = f"{origin}: " if origin else ""
        if not isinstance(values, dict):
            raise ConfigError(f"{prefix}expected an object of {cls.config_kind}, got {type(values).__name__}")
        known = {item.name for item in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"{prefix}unknown {cls.config_kind}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**cls._convert(dict(values)))
        except TypeError as error:  # a field of the wrong shape
            raise ConfigError(f"{prefix}{error}") from None

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Values as the dataclass holds them: JSON has no tuples, so lists become tuples where the
        default is a tuple. A subclass converts what else it needs (nested configs)."""
        for item in fields(cls):  # type: ignore[arg-type]
            if item.default is not MISSING:
                default = item.default
            else:
                default = item.default_factory() if item.default_factory is not MISSING else None
            if isinstance(default, tuple) and isinstance(values.get(item.name), list):
                values[item.name] = tuple(values[item.name])
        return values

    @classmethod
    def base_for_file(cls: type[Config], values: dict[str, Any]) -> Config:
        """The config a file's fields change: the defaults. A subclass may take a key out of ``values``
        to choose another base (``SynthConfig``: a named preset)."""
        return cls()

    @classmethod
    def from_file(cls: type[Config], path: str | Path) -> Config:
        """A JSON, YAML or TOML object of the fields to change from ``base_for_file``."""
        path = Path(path)
        values = dict(read_config_file(path))
        base = cls.base_for_file(values)
        return cls.from_dict({**base.to_dict(), **values}, origin=str(path))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a JSON (``.json``), TOML (``.toml``) or YAML (any other name) file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file: {getattr(error, 'strerror', None) or error}") from None
    try:
        if path.suffix == ".toml":
            # tomllib from Python 3.11 on; before, tomli from the train extra
            toml = require("tomllib" if sys.version_info >= (3, 11) else "tomli", "train", f"reading {path.name}")
            values = toml.loads(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            values = require("yaml", "train", f"reading {path.name}").safe_load(text) or {}
    except ConfigError:
        raise
    except Exception as error:  # each parser has its own error type; all mean the same to a user
        raise ConfigError(f"{path}: cannot parse the config file: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return values
