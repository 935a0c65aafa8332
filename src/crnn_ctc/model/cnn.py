"""The convolutional feature extractor, masked so that batch padding never changes a result.

Each layer's true output width is computed from the true input width, and activations beyond it
are set to zero before the next layer reads them. Zero is what a layer sees past the edge of an
image that is alone in its batch (zero padding for convolutions; for max-pooling the values are
post-ReLU, so 0 and -inf give the same maximum), so a padded image gets the same features.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import Layer


def width_mask(widths: torch.Tensor, full_width: int) -> torch.Tensor:
    """(N,) true widths -> (N, 1, 1, full_width) mask of ones inside each image, zeros past it."""
    positions = torch.arange(full_width, device=widths.device)
    return (positions.unsqueeze(0) < widths.unsqueeze(1)).view(-1, 1, 1, full_width)


def _layer_width(layer: Layer, widths: torch.Tensor) -> torch.Tensor:
    return torch.div(widths + 2 * layer.padding[1] - layer.kernel[1], layer.stride[1], rounding_mode="floor") + 1


def _build(layer: Layer, in_channels: int) -> nn.Module:
    if layer.kind == "pool":
        return nn.MaxPool2d(layer.kernel, layer.stride, layer.padding)
    block: list[nn.Module] = [
        nn.Conv2d(in_channels, layer.channels, layer.kernel, layer.stride, layer.padding, bias=not layer.batch_norm)
    ]
    if layer.batch_norm:
        block.append(nn.BatchNorm2d(layer.channels))
    block.append(nn.ReLU(inplace=True))
    return nn.Sequential(*block)


class ConvFeatures(nn.Module):
    """Image batch (N, C, H, W) -> feature maps (N, C', H', W'), masked past each true width."""

    def __init__(self, layers: tuple[Layer, ...], in_channels: int) -> None:
        super().__init__()
        self.specs = layers
        modules: list[nn.Module] = []
        channels = in_channels
        for layer in layers:
            modules.append(_build(layer, channels))
            if layer.kind == "conv":
                channels = layer.channels
        self.layers = nn.ModuleList(modules)

    def output_widths(self, widths: torch.Tensor) -> torch.Tensor:
        for layer in self.specs:
            widths = _layer_width(layer, widths)
        return widths

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        features = images
        for spec, module in zip(self.specs, self.layers, strict=True):
            features = module(features)
            if widths is not None:
                widths = _layer_width(spec, widths)
                features = features * width_mask(widths, features.shape[-1]).to(features.dtype)
        return features
