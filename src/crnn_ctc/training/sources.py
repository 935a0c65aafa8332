"""Training data: sources named on the command line, filtered up front, mixed and bucketed per epoch.

A source is an LMDB, a folder of LMDB shards (their union), a TFRecord, an annotation file (or a
folder holding one), or a location in a registered scheme: ``synth:`` (``synthetic.py``) for images
rendered on the fly; ``SRC@WEIGHT`` sets its share of each epoch. Samples whose label has
symbols outside the charset, or needs more CTC steps than its image gives, are dropped before
training with a count, so they can never produce an infinite or NaN loss.

A scheme's module registers its opener here (``register_scheme``) and this module never imports it:
the schemes depend on the sources, not back. ``loop.py``, which opens a run's sources, imports
``synthetic``, so a run has ``synth:``; code calling ``prepare_source`` on its own imports it too.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import torch

from ..charset import Charset, required_steps
from ..data.readers import Batch, RecognitionDataset, Sample, collate_samples, open_source
from ..errors import CharsetError, ConfigError
from ..model import ModelConfig
from ..preprocess import PreprocessConfig


@dataclass(frozen=True)
class SourceSpec:
    location: str
    weight: float = 1.0

    @property
    def scheme(self) -> str | None:
        """The registered scheme (``synth:``) the location starts with; None for a path."""
        return next((prefix for prefix in _SCHEMES if self.location.startswith(prefix)), None)


def parse_source(spec: str) -> SourceSpec:
    """``path``, ``path@2`` (weight 2), ``synth:`` or ``synth:fonts=DIR,words=FILE@0.5``."""
    location, weight = spec, 1.0
    if "@" in spec:
        head, tail = spec.rsplit("@", 1)
        try:
            location, weight = head, float(tail)
        except ValueError:
            location, weight = spec, 1.0  # an @ that is part of a path
    if weight <= 0:
        raise ConfigError(f"source {spec!r}: the weight after @ must be positive")
    return SourceSpec(location, weight)


class EventLike(Protocol):
    """A flag shared with the data workers (``multiprocessing.Event``)."""

    def set(self) -> None: ...

    def is_set(self) -> bool: ...


class TrainingSamples(Protocol):
    """What a prepared source reads from: sample ``index`` preprocessed and encoded (``RecognitionDataset``,
    over a store's images or over rendered ones)."""

    def __getitem__(self, index: int) -> Sample: ...


@dataclass
class PreparedSource:
    """A dataset with the indices that passed the up-front checks and their preprocessed widths."""

    name: str
    dataset: TrainingSamples
    usable: list[int]
    widths: list[int]
    weight: float
    dropped: Counter[str] = field(default_factory=Counter)
    # An unbounded (synthetic) source: any index is a sample; ``usable`` and ``widths`` are then unused.
    infinite: bool = False


class SourceOpener(Protocol):
    """Prepares a source whose location is in a registered scheme (``synthetic.synthetic_source``)."""

    def __call__(
        self, spec: SourceSpec, charset: Charset, preprocess: PreprocessConfig, seed: int
    ) -> PreparedSource: ...


# Scheme prefix ("synth:") -> its opener: filled by the schemes' modules as they are imported.
_SCHEMES: dict[str, SourceOpener] = {}


def register_scheme(prefix: str, opener: SourceOpener) -> None:
    """Open locations that start with ``prefix`` with ``opener`` (a module registers its scheme on import)."""
    if not prefix.endswith(":"):
        raise ValueError(f"a source scheme ends with ':', got {prefix!r}")
    _SCHEMES[prefix] = opener


def prepare_source(
    spec: SourceSpec,
    charset: Charset,
    preprocess: PreprocessConfig,
    geometry: ModelConfig,
    seed: int = 0,
    label_numbers: Charset | None = None,
) -> PreparedSource:
    """Open a source and drop, with counts, the samples that cannot be trained on. ``label_numbers`` is the
    alphabet a TFRecord without a char_map.json numbers its labels in (the user's ``--charset``): never
    ``charset`` itself when that was chosen for the run, whose order may differ from the file's."""
    if spec.scheme is not None:
        return _SCHEMES[spec.scheme](spec, charset, preprocess, seed)
    source = open_source(spec.location, charset=label_numbers)
    dataset = RecognitionDataset(source, charset, preprocess, geometry)
    widths = dataset.widths()
    labels = source.labels() if hasattr(source, "labels") else [source[i][1] for i in range(len(source))]
    usable, dropped = [], Counter[str]()
    for index, label in enumerate(labels):
        try:
            targets = charset.encode(label)
        except CharsetError:
            dropped["symbols outside the charset"] += 1
            continue
        if not targets:
            dropped["empty label"] += 1
        elif required_steps(targets) > geometry.output_length(widths[index]):
            dropped["label too long for its image"] += 1
        else:
            usable.append(index)
    return PreparedSource(spec.location, dataset, usable, widths, spec.weight, dropped)


class SourceMixture(torch.utils.data.Dataset[Sample]):
    """A map-style dataset over several sources, addressed by (source, index) pairs."""

    def __init__(self, sources: Sequence[PreparedSource]) -> None:
        super().__init__()
        self.sources = list(sources)

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        source, index = key
        sample: Sample = self.sources[source].dataset[index]
        return sample


# Samples loaded together, then sorted by their real widths and cut into batches. A rendered
# sample's width is known only once it is drawn: batches cut by the generator's width estimate
# computed 1.70 times the real pixels (their widths spread from 0.73 to 1.32 of the estimate, 10th to
# 90th percentile), batches cut by real widths 1.10 (pools of 30 batches; 8 gave 1.34, 16 1.18),
# so a pool is drawn first and cut afterwards (the default preset, batch 64, 1,920 samples).
POOL_BATCHES = 32


class EpochPlan:
    """Which samples each epoch, in which pools: deterministic in (seed, epoch), so resumable.

    Each epoch the drawn samples are shuffled and cut into pools of ``POOL_BATCHES`` batches; a data
    worker loads a whole pool and ``PoolCollator`` cuts it into batches of similar real width, in an
    order fixed by (seed, epoch, pool). With ``num_replicas`` > 1 (DDP) the samples are wrapped
    around to fill whole pools for every rank, and each rank takes every num_replicas-th pool, so
    every rank steps equally often.
    """

    def __init__(
        self,
        sources: Sequence[PreparedSource],
        batch_size: int,
        *,
        epoch_size: int | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        self.sources = list(sources)
        if not any(s.usable or s.infinite for s in self.sources):
            raise ConfigError("no usable training samples: every sample was dropped (see the counts above)")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        real_total = sum(len(s.usable) for s in self.sources if not s.infinite)
        self.epoch_size = epoch_size or real_total or 100_000
        self.batch_size = batch_size
        self.pool_size = batch_size * POOL_BATCHES
        self.seed = seed
        self.shuffle = shuffle
        self.num_replicas = num_replicas
        self.rank = rank
        self._cached: tuple[int, list[list[tuple[int, int]]]] | None = None  # the last epoch's pools
        if self.batches_per_epoch() == 0:
            raise ConfigError(f"--epoch-size {self.epoch_size} draws no sample from any source: make it larger")

    def _padded(self, drawn: int) -> int:
        """How many samples an epoch of ``drawn`` is cut into pools from: with DDP, wrapped around to
        whole pools for every rank."""
        if self.num_replicas > 1 and drawn:
            whole = self.pool_size * self.num_replicas
            return -(-drawn // whole) * whole
        return drawn

    def _pool_lengths(self) -> list[int]:
        """This rank's pools' sizes: the same every epoch, since they depend only on how many samples
        an epoch draws."""
        whole_pools, rest = divmod(self._padded(sum(self._wanted())), self.pool_size)
        lengths = [self.pool_size] * whole_pools + ([rest] if rest else [])
        return lengths[self.rank :: self.num_replicas]

    def batches_per_epoch(self) -> int:
        """This rank's batches per epoch, counted without drawing one."""
        return sum(-(-length // self.batch_size) for length in self._pool_lengths())

    def _plain_pass(self) -> bool:
        """One real source drawn whole: each epoch is that source once, in its order."""
        only = self.sources[0]
        return len(self.sources) == 1 and not only.infinite and self.epoch_size == len(only.usable)

    def _wanted(self) -> list[int]:
        """How many samples each source gives an epoch."""
        if self._plain_pass():
            return [len(self.sources[0].usable)]
        total_weight = sum(s.weight for s in self.sources if s.usable or s.infinite)
        return [round(self.epoch_size * s.weight / total_weight) if s.usable or s.infinite else 0 for s in self.sources]

    def _draw(self, epoch: int) -> list[tuple[int, int]]:
        if self._plain_pass():
            return [(0, index) for index in self.sources[0].usable]
        drawn: list[tuple[int, int]] = []
        for number, (source, wanted) in enumerate(zip(self.sources, self._wanted(), strict=True)):
            if source.infinite:  # fresh images every epoch
                drawn.extend((number, epoch * wanted + offset) for offset in range(wanted))
                continue
            if not source.usable:
                continue
            # A fixed shuffle of the source, then rotate through it across epochs so every
            # sample is seen before any repeats.
            pool = list(source.usable)
            random.Random(self.seed * 7919 + number).shuffle(pool)
            start = (epoch * wanted) % len(pool)
            order = pool[start:] + pool[:start]
            while len(order) < wanted:
                order = order + pool
            drawn.extend((number, index) for index in order[:wanted])
        return drawn

    def pools(self, epoch: int) -> list[list[tuple[int, int]]]:
        """This rank's pools of ``epoch`` as (source, index) keys (shared with the cache: do not modify)."""
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        drawn = self._draw(epoch)
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + epoch).shuffle(drawn)
        drawn = list(itertools.islice(itertools.cycle(drawn), self._padded(len(drawn))))
        pools = [drawn[start : start + self.pool_size] for start in range(0, len(drawn), self.pool_size)]
        self._cached = (epoch, pools[self.rank :: self.num_replicas])
        return self._cached[1]


@dataclass(frozen=True)
class PlannedKey:
    """One sample of a run's plan: what to read (``source``, ``index``) and where its pool stands."""

    epoch: int
    pool: int  # the pool's number within this rank's epoch
    last: bool  # the epoch's final pool
    source: int
    index: int


class RunPools:
    """The batch sampler of a whole run: each item is one pool of keys, from (epoch, batch)'s pool on.

    One ``DataLoader`` iterates it for the whole run, so its workers start once (a ``synth:`` worker
    opens the whole font set); each epoch is planned when the loader reaches it. It never ends: the
    loop stops at its step count. A resume inside a pool loads that pool again, and the loop skips
    the batches it had already trained on (``Trainer._batches``).
    """

    def __init__(self, plan: EpochPlan, epoch: int = 0, batch: int = 0) -> None:
        self.plan = plan
        self.epoch = epoch
        self.batch = batch

    def __iter__(self) -> Iterator[list[PlannedKey]]:
        epoch, start = self.epoch, self.batch // POOL_BATCHES
        while True:
            pools = self.plan.pools(epoch)
            for number in range(start, len(pools)):
                last = number == len(pools) - 1
                yield [PlannedKey(epoch, number, last, source, index) for source, index in pools[number]]
            epoch, start = epoch + 1, 0


@dataclass
class PlannedBatch:
    """A training batch and its place in the run."""

    epoch: int
    batch: int
    last: bool
    samples: Batch

    @property
    def next_position(self) -> tuple[int, int]:
        """(epoch, batch) of the batch after this one: where a run checkpointed after it resumes."""
        return (self.epoch + 1, 0) if self.last else (self.epoch, self.batch + 1)


def batches_by_width(widths: Sequence[int | None], batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """A pool's positions in ceil(len / batch_size) batches, shuffled by ``rng``: the usable samples sorted
    by width (ties in pool order) and cut evenly, the unusable ones (width None) dealt one to a batch, so
    no batch is left without a usable sample while the pool has enough of them."""
    count = -(-len(widths) // batch_size)
    usable = sorted((p for p, width in enumerate(widths) if width is not None), key=lambda p: (widths[p], p))
    bounds = [round(number * len(usable) / count) for number in range(count + 1)]
    batches = [usable[bounds[number] : bounds[number + 1]] for number in range(count)]
    for number, position in enumerate(p for p, width in enumerate(widths) if width is None):
        batches[number % count].append(position)
    if rng is not None:
        rng.shuffle(batches)
    return batches


class PoolCollator:
    """The ``collate_fn`` of ``RunPools``: a loaded pool becomes its batches (``PlannedBatch``), each of
    samples of similar real width (an unusable sample is counted, then dropped by ``collate_samples``)."""

    def __init__(self, batch_size: int, seed: int = 0) -> None:
        self.batch_size = batch_size
        self.seed = seed

    def __call__(self, items: Sequence[tuple[PlannedKey, Sample]]) -> list[PlannedBatch]:
        key = items[0][0]
        samples = [sample for _, sample in items]
        widths = [None if sample.image is None else int(sample.image.shape[-1]) for sample in samples]
        rng = random.Random((self.seed * 1_000_003 + key.epoch) * 100_003 + key.pool)
        batches = batches_by_width(widths, self.batch_size, rng)
        first = key.pool * POOL_BATCHES
        return [
            PlannedBatch(key.epoch, first + number, key.last and number == len(batches) - 1,
                         collate_samples([samples[position] for position in positions]))
            for number, positions in enumerate(batches)
        ]  # fmt: skip


class RunSamples(torch.utils.data.Dataset[tuple[PlannedKey, Sample]]):
    """The training sources addressed by ``PlannedKey``: each sample comes back with its key.

    With ``augment`` (the preprocessing they share), a stored source's images are perturbed anew each
    epoch (``augment.py``), by draws fixed by (seed, epoch, source, index); rendered ones never are.
    """

    def __init__(
        self,
        sources: Sequence[PreparedSource],
        *,
        augment: PreprocessConfig | None = None,
        seed: int = 0,
        stopping: EventLike | None = None,
    ) -> None:
        super().__init__()
        self.mixture = SourceMixture(sources)
        self.augment = augment
        self.seed = seed
        # Set (shared with the data workers) once the run needs no more samples: the rest of a pool
        # being loaded is then passed over instead of rendered.
        self.stopping = stopping

    def stop(self) -> None:
        if self.stopping is not None:
            self.stopping.set()

    def __getitem__(self, key: PlannedKey) -> tuple[PlannedKey, Sample]:
        if self.stopping is not None and self.stopping.is_set():
            return key, Sample(None, [], "", "not loaded: the run has ended")
        sample = self.mixture[key.source, key.index]
        if self.augment is not None and sample.image is not None and not self.mixture.sources[key.source].infinite:
            from .augment import augment, seed_for

            rng = random.Random(seed_for(self.seed, key.epoch, key.source, key.index))
            sample = replace(sample, image=augment(sample.image, self.augment, rng))
        return key, sample


def collate_for_training(samples: Sequence[Sample]) -> Batch:
    """``collate_samples``: unusable images are dropped from the batch and counted in ``skipped``."""
    return collate_samples(samples)
