"""Training: configuration, data sources and mixing, the loop, checkpoints, DDP and logs."""

from .config import TrainConfig, read_config_file
from .loop import TrainingError, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "read_config_file", "train"]
