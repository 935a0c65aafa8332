"""``crnn info``: describe a model file (``.safetensors``, or an exported ``.onnx`` graph)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

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
    for key, value in sorted(bundle.provenance.items()):
        print(f"{key + ':':<16}{value}")
    return EXIT_OK


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
    for key, value in sorted(info.provenance.items()):
        print(f"{key + ':':<16}{value}")
    return EXIT_OK
