"""An exponential moving average of the model's weights, the model a run validates and saves.

Late in a fine-tuning run the weights of single steps wander: the bundled model's rounds moved by
±0.3 points on IIIT5K and ±0.35 points of CER on the held-out lines from one validation to the next.
The average over the last ~1/(1 - decay) steps is a flatter, steadier point. PyTorch's
``AveragedModel`` with its EMA function does the averaging; this wraps it so that batch-norm
statistics are averaged too and the state travels in checkpoints.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """The EMA of ``model``'s parameters and buffers; ``update`` after each optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        # use_buffers: batch norm's running statistics are averaged with the weights they belong to.
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.averaged.eval()

    @property
    def model(self) -> nn.Module:
        """The averaged copy, with the same structure as the model it follows."""
        module: nn.Module = self.averaged.module
        return module

    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "averaged": self.averaged.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(state["averaged"])
