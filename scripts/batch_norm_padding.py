"""Why batch norm's statistics move when the bundled model trains on (docs/training_recipes.md).

The mean of each batch norm layer's input in training mode, over 512 ``scene-words`` samples batched
two ways, against the running mean the model file stores. Padding past an image's width is zero and
enters a batch's statistics, so they depend on how much of the batch is padding: batches cut by real
width (as ``crnn train`` cuts each pool) or drawn at random from the pool. bf16 autocast (how the
bundled model was trained) is shown on two batches cut by width.

Usage: OMP_NUM_THREADS=2 .venv/bin/python scripts/batch_norm_padding.py
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch

from crnn_ctc.bundle import load_bundle
from crnn_ctc.data.readers import Batch, RecognitionDataset, SampleSource, collate_samples
from crnn_ctc.synth import SynthDataset, SynthGenerator, preset
from crnn_ctc.training.sources import PlannedKey, PoolCollator

BUNDLED = "src/crnn_ctc/assets/crnn-ctc-default.safetensors"
SAMPLES = 512
BATCH = 64


def layer_means(model: torch.nn.Module, batches: Sequence[Batch], bf16: bool = False) -> dict[str, torch.Tensor]:
    """Each batch norm layer's per-channel input mean in training mode, averaged over ``batches``;
    the running statistics are put back afterwards."""
    layers = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.BatchNorm2d)]
    seen: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}

    def record(name: str) -> Any:
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            seen[name].append(inputs[0].float().mean(dim=(0, 2, 3)))

        return hook

    saved = {name: (module.running_mean.clone(), module.running_var.clone()) for name, module in layers}
    hooks = [module.register_forward_hook(record(name)) for name, module in layers]
    model.train()
    with torch.no_grad():
        for batch in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                model(torch.from_numpy(batch.images), torch.from_numpy(batch.widths))
    for handle in hooks:
        handle.remove()
    for name, module in layers:
        module.running_mean.copy_(saved[name][0])
        module.running_var.copy_(saved[name][1])
    return {name: torch.stack(values).mean(0) for name, values in seen.items()}


def padding_share(batches: Sequence[Batch]) -> float:
    return float(np.mean([1 - batch.widths.mean() / batch.images.shape[-1] for batch in batches]))


def main() -> None:
    warnings.simplefilter("ignore")  # fonts that draw too little of the charset
    bundle = load_bundle(BUNDLED)
    generator = SynthGenerator.create(preset("scene-words"), bundle.charset)
    pool = cast(SampleSource, SynthDataset(generator, SAMPLES, image_format=None))
    dataset = RecognitionDataset(pool, bundle.charset, bundle.preprocess, bundle.config)
    items = [(PlannedKey(0, 0, True, 0, index), dataset[index]) for index in range(SAMPLES)]
    by_width = [planned.samples for planned in PoolCollator(BATCH)(items)]
    order = np.random.default_rng(0).permutation(SAMPLES)
    at_random = [collate_samples([items[int(i)][1] for i in order[k : k + BATCH]]) for k in range(0, SAMPLES, BATCH)]
    print(f"padding share of the batches: cut by width {padding_share(by_width):.2f}, "
          f"drawn at random {padding_share(at_random):.2f}")  # fmt: skip
    model = bundle.model
    columns = {
        "by width, fp32": layer_means(model, by_width),
        "at random, fp32": layer_means(model, at_random),
        "by width, bf16": layer_means(model, by_width[:2], bf16=True),
    }
    print("| layer | stored running mean | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            cells = " | ".join(f"{means[name].abs().mean().item():.3f}" for means in columns.values())
            print(f"| {name} | {module.running_mean.abs().mean().item():.3f} | {cells} |")


if __name__ == "__main__":
    main()
