"""``crnn info``: describe a model file (``.safetensors``, or an exported ``.onnx`` graph)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from .common import EXIT_OK, add_model_options

if TYPE_CHECKING:
    from pathlib import Path


def add_command(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser("info", description="Print a model file's config.")
    add_model_options(info)
    info.add_argument("--json", action="store_true", help="print the full JSON config")
    info.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..bundle import load_bundle, resolve_model_path

    path = resolve_model_path(args.model, args.model_dir)
    if path.suffix == ".onnx":
        return _run_onnx(path, args.json)
    bundle = load_bundle(path)
    description = bundle.describe()
    if args.json:
        print(json.dumps(description, ensure_ascii=False, indent=2))
        return EXIT_OK
    config = bundle.config
    parameters = sum(p.numel() for p in bundle.model.parameters())
    prep = bundle.preprocess
    width_policy = f"fixed {prep.fixed_width}" if prep.fixed_width else f"{prep.min_width}..{prep.max_width}"
    print(f"file:           {path}")
    print(f"architecture:   {config.arch} ({parameters:,} parameters, {config.num_classes} classes)")
    print(f"charset:        {len(bundle.charset)} symbols: {''.join(bundle.charset.symbols)}")
    print(f"input:          {prep.channels} channel(s), height {prep.height}, width {width_policy}")
    _print_provenance(bundle.provenance, path)
    if bundle.calibration:
        print(f"{'calibration:':<16}temperature {bundle.calibration.get('temperature')}")
    return EXIT_OK


def _print_provenance(provenance: dict[str, Any], path: Path) -> None:
    """One line per entry; an average's ingredients one line each (their own histories are in --json).
    Two records are read against what is there now: a training config said to lie beside the file,
    and the "random" initialisation that runs continued from another model recorded before that was noted."""
    gone = not (path.parent / "config.json").is_file()
    for key, value in sorted(provenance.items()):
        if key == "training_config" and value == "config.json beside this file" and gone:
            value = f"{value} when it was saved (not beside it now)"
        if key == "initialisation" and value == "random" and "init_from" in provenance:
            value = "random, as recorded by a version that did not note --init-from: it started from init_from"
        if key == "averaged_from" and isinstance(value, list):
            print(f"{key + ':':<16}{len(value)} models")
            for part in value:
                if not isinstance(part, dict):
                    print(f"{'':<16}{part}")
                    continue
                history = part.get("provenance")
                history = history if isinstance(history, dict) else {}
                steps = f", {history['trained_steps']} steps" if "trained_steps" in history else ""
                start = f" from {history['init_from']}" if "init_from" in history else ""
                sha = str(part.get("sha256"))[:12]
                print(f"{'':<16}{part.get('weight')}  {part.get('file')} (SHA-256 {sha}…{steps}{start})")
        else:
            print(f"{key + ':':<{max(16, len(key) + 2)}}{value}")


def _run_onnx(path: Path, as_json: bool) -> int:
    """An exported graph: the config in its metadata, and how it was exported."""
    from ..bundle import METADATA_KEY, model_info
    from ..errors import ModelFileError
    from ..runtime.metadata import QUANTIZATION_KEY, SOURCE_KEY
    from ..runtime.onnx_engine import OnnxEngine

    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    metadata = OnnxEngine(path).metadata()
    if METADATA_KEY not in metadata:
        raise ModelFileError(f"{path}: an ONNX model, but not one exported by crnn-ctc (no config in its metadata)")
    try:
        description = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as error:
        raise ModelFileError(f"{path}: the ONNX model's config is malformed: {error}") from None
    info = model_info(description, path)
    export = {"quantization": metadata.get(QUANTIZATION_KEY), "source_sha256": metadata.get(SOURCE_KEY)}
    if as_json:
        print(json.dumps({**description, "onnx": export}, ensure_ascii=False, indent=2))
        return EXIT_OK
    prep = info.preprocess
    width_policy = f"fixed {prep.fixed_width}" if prep.fixed_width else f"{prep.min_width}..{prep.max_width}"
    print(f"file:           {path}")
    print(f"format:         ONNX, {export['quantization'] or 'fp32'} (crnn export)")
    print(f"architecture:   {info.config.arch} ({info.config.num_classes} classes)")
    print(f"charset:        {len(info.charset)} symbols: {''.join(info.charset.symbols)}")
    print(f"input:          {prep.channels} channel(s), height {prep.height}, width {width_policy}")
    if export["source_sha256"]:
        print(f"exported from:  a model file with SHA-256 {export['source_sha256']}")
    _print_provenance(info.provenance, path)
    if info.calibration:
        print(f"{'calibration:':<16}temperature {info.temperature}")
    return EXIT_OK
