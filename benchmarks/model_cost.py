"""Cost of each CRNN architecture: parameters, time steps, MACs/FLOPs and CPU forward throughput.

Why: the architectures trade accuracy for CPU speed, and docs/benchmarks.md needs numbers that say
how much. For a 32 x W gray image (W = 100 by default) the script reports

* parameters: all model parameters (37 classes, the ``lower-alnum`` charset);
* T: CTC time steps, ``ModelConfig.output_length(W)``;
* MACs, counted analytically with forward hooks during one batch-1 forward pass:
  ``nn.Conv2d`` = output elements x in_channels / groups x kh x kw; ``nn.Linear`` = output elements
  x in_features; ``nn.LSTM`` = per sequence step, layer and direction 4 x hidden x (input + hidden).
  BatchNorm, ReLU, pooling, (log-)softmax, biases and the LSTM's elementwise gate arithmetic are
  not counted. FLOPs = 2 x MACs;
* throughput: forward passes on random inputs under ``torch.inference_mode()`` with
  ``torch.set_num_threads(--threads)``, at batch 1 and batch 64. The machine may be shared and
  noisy, so every variant is warmed up, then timed ``--repeats`` times, round-robin over the
  variants so they all see the same noise, and the median is reported.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/model_cost.py [--markdown] [--out FILE]``
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crnn_ctc.charset import Charset
from crnn_ctc.model import ARCHITECTURES, ModelConfig, build_model

HEIGHT = 32
BATCH_SIZES = (1, 64)
WARMUP_CALLS = 2
TARGET_SECONDS = 0.5  # a timed repeat runs enough forward passes to last about this long

FOOTNOTE = (
    "MACs counted for Conv2d, Linear and LSTM matrix products only (BatchNorm, ReLU, pooling, softmax, "
    "biases and LSTM elementwise gates not counted); FLOPs = 2 x MACs."
)


def _lstm_macs(module: nn.LSTM, inputs: torch.Tensor | nn.utils.rnn.PackedSequence) -> int:
    if module.proj_size:
        raise NotImplementedError("LSTM with proj_size is not counted")
    # Sequence steps summed over the batch: a tensor is (N, T, F), (T, N, F) or (T, F) unbatched;
    # a PackedSequence's data is (sum of lengths, F).
    data = inputs.data if isinstance(inputs, nn.utils.rnn.PackedSequence) else inputs
    steps = math.prod(data.shape[:-1])
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    per_step = 0
    for layer in range(module.num_layers):
        input_size = module.input_size if layer == 0 else directions * hidden
        per_step += directions * 4 * hidden * (input_size + hidden)
    return steps * per_step


def macs_by_module(model: nn.Module, *inputs: torch.Tensor) -> dict[str, int]:
    """Multiply-accumulates of each Conv2d, Linear and LSTM during one ``model(*inputs)`` call."""
    counts: dict[str, int] = {}

    def hook(name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def record(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            if isinstance(module, nn.Conv2d):
                assert isinstance(output, torch.Tensor)
                kh, kw = module.kernel_size
                macs = output.numel() * (module.in_channels // module.groups) * kh * kw
            elif isinstance(module, nn.Linear):
                assert isinstance(output, torch.Tensor)
                macs = output.numel() * module.in_features
            else:
                assert isinstance(module, nn.LSTM)
                macs = _lstm_macs(module, args[0])
            counts[name] = counts.get(name, 0) + macs

        return record

    handles = [
        module.register_forward_hook(hook(name))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear, nn.LSTM))
    ]
    try:
        with torch.inference_mode():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return counts


def count_macs(model: nn.Module, images: torch.Tensor) -> int:
    """Total multiply-accumulates of ``model(images)`` (see the module docstring for what counts)."""
    return sum(macs_by_module(model, images).values())


@dataclass
class Variant:
    arch: str
    batch: int
    model: nn.Module
    images: torch.Tensor
    calls: int = 1  # forward passes per timed repeat
    rates: list[float] = field(default_factory=list)  # images/s of each repeat

    def run(self) -> float:
        """Seconds for ``calls`` forward passes."""
        start = time.perf_counter()
        for _ in range(self.calls):
            self.model(self.images)
        return time.perf_counter() - start


def measure(variants: Sequence[Variant], repeats: int) -> None:
    """Warm up and calibrate each variant, then time them round-robin; fills ``Variant.rates``."""
    with torch.inference_mode():
        for variant in variants:
            for _ in range(WARMUP_CALLS):
                variant.run()
            variant.calls = max(1, round(TARGET_SECONDS / variant.run()))
        for _ in range(repeats):
            for variant in variants:
                variant.rates.append(variant.batch * variant.calls / variant.run())


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    if markdown:
        lines = [header, ["---:" if i else "---" for i in range(len(header))], *rows]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    # First column (the name) left-aligned, numbers right-aligned.
    lines = [
        [row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        for row in [header, *rows]
    ]
    return "\n".join("  ".join(cells) for cells in lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per variant; median reported")
    parser.add_argument("--width", type=int, default=100, help="input width in pixels (height is 32)")
    parser.add_argument("--archs", default=",".join(ARCHITECTURES), help="comma-separated architectures")
    parser.add_argument("--markdown", action="store_true", help="print a GitHub markdown table")
    parser.add_argument("--out", type=Path, help="also write the output to this file")
    args = parser.parse_args(argv)

    archs = [name.strip() for name in args.archs.split(",") if name.strip()]
    unknown = [arch for arch in archs if arch not in ARCHITECTURES]
    if unknown or not archs or args.repeats < 1:
        parser.error(f"--archs takes a comma list of {', '.join(ARCHITECTURES)}; --repeats must be at least 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    num_classes = Charset.preset("lower-alnum").num_classes

    configs = {arch: ModelConfig.for_arch(arch, num_classes, in_channels=1, height=HEIGHT) for arch in archs}
    models = {arch: build_model(config).eval() for arch, config in configs.items()}
    macs = {arch: count_macs(model, torch.rand(1, 1, HEIGHT, args.width)) for arch, model in models.items()}
    variants = [
        Variant(arch, batch, models[arch], torch.rand(batch, 1, HEIGHT, args.width))
        for batch in BATCH_SIZES
        for arch in archs
    ]
    measure(variants, args.repeats)

    rate = {(v.arch, v.batch): statistics.median(v.rates) for v in variants}
    header = ["arch", "params", "T", "MMACs", "GFLOPs"]
    for batch in BATCH_SIZES:
        header += [f"img/s b{batch}", f"ms/img b{batch}"]
    rows = []
    for arch in archs:
        params = sum(p.numel() for p in models[arch].parameters())
        row = [arch, f"{params:,}", str(configs[arch].output_length(args.width))]
        row += [f"{macs[arch] / 1e6:.1f}", f"{2 * macs[arch] / 1e9:.3f}"]
        for batch in BATCH_SIZES:
            row += [f"{rate[arch, batch]:.1f}", f"{1000 / rate[arch, batch]:.2f}"]
        rows.append(row)

    spread = ", ".join(
        f"{v.arch} b{v.batch} {100 * (max(v.rates) - min(v.rates)) / statistics.median(v.rates):.0f}%" for v in variants
    )
    text = "\n".join(
        [
            f"Input 1x{HEIGHT}x{args.width} gray, {num_classes} classes; torch {torch.__version__}, "
            f"{args.threads} thread(s), {cpu_name()}; "
            f"median of {args.repeats} repeats.",
            "",
            format_table(header, rows, args.markdown),
            "",
            FOOTNOTE,
            f"Throughput spread (max - min) / median over repeats: {spread}.",
        ]
    )
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
