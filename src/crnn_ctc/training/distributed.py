"""DDP through torchrun: one process per device, gloo on CPU, NCCL on GPUs; rank 0 writes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist
from torch import nn


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None  # set when torchrun assigns one

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if not self.enabled:
            return model
        device_ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def _reduce(self, flag: bool, op: torch_dist.ReduceOp.RedOpType) -> bool:
        if not self.enabled:
            return flag
        tensor = torch.tensor([1 if flag else 0], device=self.device or "cpu")
        torch_dist.all_reduce(tensor, op=op)
        return bool(tensor.item())

    def all_true(self, flag: bool) -> bool:
        """True on every rank only if ``flag`` is True on every rank (so all ranks skip a bad step together)."""
        return self._reduce(flag, torch_dist.ReduceOp.MIN)

    def any_true(self, flag: bool) -> bool:
        return self._reduce(flag, torch_dist.ReduceOp.MAX)

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def close(self) -> None:
        if self.enabled and torch_dist.is_initialized():
            # Every rank waits for the others first: with gloo, a rank that tore its group down while rank 0
            # was still writing the model once aborted ("terminate called without an active exception").
            torch_dist.barrier()
            torch_dist.destroy_process_group()


def setup_distributed() -> Distributed:
    """Read torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); a single process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend=backend)
    return Distributed(rank, world_size, device)
