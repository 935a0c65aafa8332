"""The PyTorch engine: eager execution on CPU or CUDA."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import ConfigError
from ..model import CRNN


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    return resolved


class TorchEngine:
    name = "torch"

    def __init__(self, model: CRNN, device: str | torch.device = "cpu") -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()

    def run(self, batch: np.ndarray, widths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
            true_widths = torch.from_numpy(np.asarray(widths, dtype=np.int64)).to(self.device)
            # Masking is only needed when some image is narrower than the batch.
            padded = bool((true_widths < images.shape[-1]).any())
            log_probs = self.model(images, true_widths if padded else None)
            lengths = self.model.output_lengths(true_widths)
        return log_probs.float().cpu().numpy(), lengths.cpu().numpy()
