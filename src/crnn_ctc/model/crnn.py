"""CRNN: CNN features -> two bidirectional LSTMs -> per-step class log-probabilities."""

from __future__ import annotations

import torch
from torch import nn

from .cnn import ConvFeatures
from .config import ModelConfig
from .sequence import BidirectionalLSTM


class CRNN(nn.Module):
    """(N, C, H, W) images and their true widths -> (N, T, classes) log-probabilities."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.cnn = ConvFeatures(config.layers, config.in_channels)
        feature_size = config.feature_channels * config.feature_height
        self.rnn = nn.ModuleList(
            [
                BidirectionalLSTM(feature_size, config.hidden_size, config.hidden_size),
                BidirectionalLSTM(config.hidden_size, config.hidden_size, config.num_classes),
            ]
        )

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        """Time steps of each sample, from its true input width: what CTC and decoding must use."""
        return self.cnn.output_widths(widths)

    def sequence_features(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """(N, C, H, W) images -> (N, T, F) CNN features, one vector per time step."""
        features = self.cnn(images, widths)
        batch, channels, rows, steps = features.shape
        # Rows above 1 (inputs taller than 32 px) are folded into the feature vector.
        return features.reshape(batch, channels * rows, steps).transpose(1, 2)

    def recognize(self, sequences: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(N, T, F) CNN features and each sequence's true length -> (N, T, classes) log-probabilities."""
        for layer in self.rnn:
            sequences = layer(sequences, lengths)
        return torch.log_softmax(sequences, dim=2)

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None) -> torch.Tensor:
        """``widths=None`` means every image fills the batch width (no masking needed)."""
        lengths = None if widths is None else self.cnn.output_widths(widths)
        return self.recognize(self.sequence_features(images, widths), lengths)
