"""Dynamic batching: images from concurrent requests share forward passes, run off the event loop.

Requests put their preprocessed images on a queue and await one future per image. A single worker
thread takes the first waiting image, gathers more for at most ``wait_s`` after that image arrived (none
when the queue already holds a full batch, as it does under load), runs each group of similar widths
through ``inference.run_group`` (the forward pass and decode ``Recognizer`` runs: one engine call, the images
that use the service's default decoder decoded in one call), and resolves each request's futures on its
event loop. Requests with their own decoder get their log-probabilities back
and decode them themselves, so a slow beam or lexicon search never holds up the shared forward pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..decode import Decoded, Decoder
from ..inference import group_by_width, run_group
from ..runtime import Engine
from .errors import ServeError
from .metrics import ServeMetrics

log = logging.getLogger("crnn_ctc.serve")

# Groups of similar widths (inference.group_by_width): measured on 256 IIIT5K words (small model, ONNX
# Runtime, 1 thread), random batches of 32 took 2.2x the time of one-by-one inference, while groups split
# at 0.85 of the widest took 0.85x (0.8: 0.87x, 0.9: 0.89x, 1.0: 0.93x).


@dataclass(frozen=True)
class BatchResult:
    """One image's share of a forward pass."""

    log_probs: np.ndarray | None  # (1, T, classes), valid steps only; None when ``decoded`` is set
    decoded: Decoded | None  # set when the batcher decoded it with the default decoder
    queued_s: float
    forward_s: float
    decode_s: float
    batch_size: int


@dataclass
class _Job:
    array: np.ndarray
    name: str
    decode: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[BatchResult]
    enqueued: float


class Batcher:
    def __init__(
        self,
        engine: Engine,
        decoder: Decoder,
        *,
        max_batch: int,
        wait_s: float,
        max_queue: int,
        metrics: ServeMetrics | None = None,
    ) -> None:
        self.engine = engine
        self.decoder = decoder
        self.max_batch = max_batch
        self.wait_s = wait_s
        self.max_queue = max_queue
        self.metrics = metrics
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="crnn-batcher", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def submit(self, arrays: Sequence[np.ndarray], names: Sequence[str], decode: bool) -> list[BatchResult]:
        """Run ``arrays`` (preprocessed images) through the engine in shared batches; results in order.

        ``decode``: decode with the default decoder (else ``log_probs`` come back for the caller to decode).
        """
        if not self.alive:
            raise ServeError(503, "unavailable", "the inference worker is not running; restart the service")
        waiting = self._queue.qsize()
        if waiting + len(arrays) > self.max_queue:
            raise ServeError(
                503, "busy", f"{waiting} images wait for inference (--max-queue {self.max_queue}); retry shortly",
                headers={"Retry-After": "1"},
            )  # fmt: skip
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        jobs = [
            _Job(array, name, decode, loop, loop.create_future(), now)
            for array, name in zip(arrays, names, strict=True)
        ]
        for job in jobs:
            self._queue.put(job)
        if self.metrics is not None:
            self.metrics.queue_depth.set(self._queue.qsize())
        try:
            return list(await asyncio.gather(*(job.future for job in jobs)))
        except asyncio.CancelledError:  # the client went away: the worker skips what it has not started
            for job in jobs:
                job.future.cancel()
            raise

    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            deadline = first.enqueued + self.wait_s
            while len(jobs) < self.max_batch:
                try:
                    job = self._queue.get(timeout=max(deadline - time.perf_counter(), 0.0))
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                # A request that gave up (its time budget spent, its client gone) holds no place in the batch.
                jobs = [waiting for waiting in jobs if not waiting.future.cancelled()]
                if not jobs:
                    deadline = job.enqueued + self.wait_s
                jobs.append(job)
            if self.metrics is not None:
                self.metrics.queue_depth.set(self._queue.qsize())
            live = [job for job in jobs if not job.future.cancelled()]
            for group in width_groups(live, self.max_batch):
                self._run_group(group)

    def _run_group(self, group: list[_Job]) -> None:
        started = time.perf_counter()
        try:
            arrays, names = [job.array for job in group], [job.name for job in group]
            output = run_group(self.engine, self.decoder, arrays, names, decode=[job.decode for job in group])
        except Exception as error:  # a failing batch fails its requests (500), never the worker
            log.exception("forward pass of %d images failed", len(group))
            for job in group:
                _deliver(job, error)
            return
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(group))
            self.metrics.images.inc(len(group))
            self.metrics.inference.observe(output.forward_s + output.decode_s)
        for row, job in enumerate(group):
            if self.metrics is not None:
                self.metrics.queue_wait.observe(started - job.enqueued)
            decoded = output.decoded[row]
            result = BatchResult(
                log_probs=None if decoded is not None else output.row_log_probs(row),
                decoded=decoded,
                queued_s=started - job.enqueued,
                forward_s=output.forward_s,
                decode_s=output.decode_s,
                batch_size=len(group),
            )
            _deliver(job, result)


def width_groups(jobs: Sequence[_Job], max_batch: int) -> list[list[_Job]]:
    """``jobs`` widest first, cut into groups of at most ``max_batch`` whose widths stay within MIN_WIDTH_FILL."""
    return group_by_width(jobs, [job.array.shape[2] for job in jobs], max_batch)


def _deliver(job: _Job, outcome: BatchResult | BaseException) -> None:
    def resolve() -> None:
        if job.future.done():  # cancelled meanwhile
            return
        if isinstance(outcome, BaseException):
            job.future.set_exception(outcome)
        else:
            job.future.set_result(outcome)

    with contextlib.suppress(RuntimeError):  # a closed event loop: the service is shutting down
        job.loop.call_soon_threadsafe(resolve)
