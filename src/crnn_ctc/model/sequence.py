"""The recurrent part: bidirectional LSTMs that respect each sequence's true length."""

from __future__ import annotations

import torch
from torch import nn


def reverse_padded(sequences: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each (N, T, F) sequence within its own length; padding steps stay where they are.

    Used instead of ``pack_padded_sequence``: it costs one gather, keeps the backward LSTM from
    reading padding first, and exports to ONNX as plain Gather + LSTM nodes.
    """
    if lengths is None:
        return sequences.flip(1)
    steps = sequences.shape[1]
    positions = torch.arange(steps, device=sequences.device).unsqueeze(0)
    source = lengths.unsqueeze(1) - 1 - positions
    source = torch.where(source >= 0, source, positions)
    return sequences.gather(1, source.unsqueeze(2).expand(-1, -1, sequences.shape[2]))


class BidirectionalLSTM(nn.Module):
    """A forward and a backward LSTM, concatenated and projected (the paper's recurrent layer)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int) -> None:
        super().__init__()
        self.forward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.backward_lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.projection = nn.Linear(2 * hidden_size, output_size)
        for lstm in (self.forward_lstm, self.backward_lstm):
            open_forget_gates(lstm)

    def forward(self, sequences: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        forward_states, _ = self.forward_lstm(sequences)
        backward_states, _ = self.backward_lstm(reverse_padded(sequences, lengths))
        backward_states = reverse_padded(backward_states, lengths)
        return self.projection(torch.cat([forward_states, backward_states], dim=2))


def open_forget_gates(lstm: nn.LSTM) -> None:
    """Start the forget gates' bias at 1 (Jozefowicz et al., 2015), so the cells keep their state and
    gradients reach back along the sequence from the first step. From scratch, CTC then leaves its
    plateau sooner: 28.0% of fresh words read after 1,500 steps of 32 against 19.5% with PyTorch's
    default (docs/training_recipes.md). It changes only a new model's start; trained weights load as they are."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, bias in lstm.named_parameters():
            if name.startswith("bias_"):
                # PyTorch's gate order is input, forget, cell, output; the two biases are summed.
                bias[hidden : 2 * hidden] = 1.0 if name.startswith("bias_ih") else 0.0
