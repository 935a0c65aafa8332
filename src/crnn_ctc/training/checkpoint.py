"""Training checkpoints: everything needed to continue a run exactly, written atomically.

A checkpoint holds tensors and plain Python values only, and is read with
``torch.load(weights_only=True)``, which refuses anything else: no code runs on load. (The model
files users share are safetensors bundles; checkpoints are for resuming a run.)
"""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelFileError
from ..files import atomic_file


def capture_rng_state() -> dict[str, Any]:
    numpy_state: tuple[Any, ...] = tuple(np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), position, has_gauss, cached))


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename: never a half-written file.

    Ctrl-C and SIGTERM are held back while it writes and delivered right after: an interrupt inside
    ``torch.save`` left its zip writer raising "unexpected pos" in place of the KeyboardInterrupt,
    so the run died with a traceback instead of checkpointing (seen in CI-like runs under load).
    They are held at the Python level (handlers that only note the signal): blocking them with
    ``pthread_sigmask`` in the main thread did not do, since the kernel hands a process's signal to
    any thread that does not block it (the DataLoader's and logger's threads), and Python then runs
    its handler in the main thread all the same."""
    held = (signal.SIGINT, signal.SIGTERM)
    received: list[int] = []
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():  # handlers can only be set there
        for number in held:
            previous[number] = signal.signal(number, lambda signum, frame: received.append(signum))
    try:
        with atomic_file(path) as file:
            torch.save(state, file)
    finally:
        for held_number, handler in previous.items():
            signal.signal(held_number, handler)
        for signum in dict.fromkeys(received):  # each signal once, in the order it came
            signal.raise_signal(signum)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no checkpoint to resume from")
    try:
        state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise ModelFileError(f"{path}: cannot read the checkpoint ({error}); is it damaged?") from None
    return state
