"""Batches of similar width: little padding, so little wasted compute, with random batch order."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence

from ..errors import ConfigError


class WidthBucketSampler:
    """Yields lists of sample indices (a ``batch_sampler`` for a torch ``DataLoader``).

    Each epoch, indices are shuffled, cut into pools of ``pool_batches`` batches, each pool sorted
    by width and cut into batches, and the batches shuffled. A pool of 50 batches keeps padding
    small while samples still meet different neighbours every epoch. With ``num_replicas`` > 1
    (DDP), each rank takes every num_replicas-th batch; ranks get equally many batches.
    """

    def __init__(
        self,
        widths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        pool_batches: int = 50,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.widths = list(widths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.pool_batches = pool_batches
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        order = list(range(len(self.widths)))
        generator = random.Random(self.seed * 1_000_003 + self.epoch)
        if self.shuffle:
            generator.shuffle(order)
        pool_size = self.batch_size * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start : start + pool_size], key=self.widths.__getitem__)
            batches.extend(pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        if self.shuffle:
            generator.shuffle(batches)
        if self.num_replicas > 1 and batches:
            # Every rank must step equally often or DDP waits forever: wrap around to fill.
            per_rank = -(-len(batches) // self.num_replicas)
            batches = list(itertools.islice(itertools.cycle(batches), per_rank * self.num_replicas))
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        return len(self._all_batches()[self.rank :: self.num_replicas])
