"""Load test of ``crnn serve``: served throughput under concurrency against the backend's own batch speed.

Why: the service batches concurrent single-image requests so that, under load, it approaches what the
engine does with whole batches. The target: at concurrency 32, at least 0.7 of the backend's batch-64
throughput measured in the same run.

What runs, all on 127.0.0.1 and bounded (each level stops after ``--requests`` requests or ``--seconds``):

* the images: real word crops, ``../shared/data/iiit5k_train/labels.tsv`` (path TAB label, paths relative
  to the file; the first ``--count``), or the bundled samples when that file is absent;
* the backend alone: ``Recognizer.recognize(images, batch_size=64)`` in this process, with the server's
  thread count, on the same encoded images (decoding, resizing and greedy decoding included, as served);
  timed before and after the load test, with the server idle, ``--repeats`` times each, median;
* the server: ``crnn serve`` in a child process (``ServerProcess``), default limits and batching;
* the clients: ``--concurrency`` asyncio clients in this process, each on its own keep-alive connection,
  sending one image per ``POST /v1/recognize`` (multipart, as a browser or curl sends it) and waiting for
  the answer before the next. A few lines of HTTP/1.1 on asyncio streams, so the client costs the shared
  CPU as little as possible;
* per level: throughput, p50/p99 latency, errors (any non-200 or malformed answer; must be 0), answers
  whose text differs from the in-process recognizer's for the same image, mean batch size (from the
  server's ``/metrics``), and the server's peak memory: VmHWM of the server and its children from
  /proc (cumulative: the peak since the server started).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/serve_load.py [--threads 1] [--concurrency 1 8 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crnn_ctc import Recognizer
from crnn_ctc.serve.app import engine_precision
from crnn_ctc.serve.launch import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = ROOT.parent / "shared" / "data" / "iiit5k_train" / "labels.tsv"
SAMPLES = ROOT / "src" / "crnn_ctc" / "assets" / "samples" / "labels.tsv"
BOUNDARY = b"crnn-serve-load-boundary"
BASELINE_BATCH = 64


@dataclass
class Level:
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    mismatches: int = 0
    seconds: float = 0.0
    mean_batch: float = 0.0
    peak_mb: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def load_images(labels: Path, count: int) -> tuple[list[str], list[bytes]]:
    if not labels.is_file():
        print(f"{labels} not found: using the bundled samples")
        labels = SAMPLES
    names, images = [], []
    for line in labels.read_text(encoding="utf-8").splitlines()[:count]:
        path, _, _label = line.partition("\t")
        if path:
            names.append(path)
            images.append((labels.parent / path).read_bytes())
    return names, images


def multipart(name: str, data: bytes) -> bytes:
    return (
        b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="images"; filename="'
        + Path(name).name.encode() + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data + b"\r\n--" + BOUNDARY + b"--\r\n"
    )  # fmt: skip


class Connection:
    """One keep-alive HTTP/1.1 connection: POST a body, read a Content-Length answer."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (
            path.encode(), self.host.encode(), content_type, len(body),
        )  # fmt: skip
        self.writer.write(head + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, close = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == "content-length":
                length = int(value)
            elif key.strip().lower() == "connection" and value.strip().lower() == "close":
                close = True
        answer = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, answer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def run_level(
    host: str, port: int, bodies: list[bytes], expected: list[str], concurrency: int, requests: int, seconds: float
) -> Level:
    """A warm-up (two requests a client, not counted), then the measured run."""
    warm = await drive(host, port, bodies, expected, concurrency, 2 * concurrency, seconds)
    if warm.errors:
        raise RuntimeError(f"{warm.errors} errors while warming up at concurrency {concurrency}")
    return await drive(host, port, bodies, expected, concurrency, requests, seconds)


async def drive(
    host: str, port: int, bodies: list[bytes], expected: list[str], concurrency: int, requests: int, seconds: float
) -> Level:
    level = Level(concurrency)
    content_type = b"multipart/form-data; boundary=" + BOUNDARY
    issued = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        nonlocal issued
        connection = Connection(host, port)
        try:
            while issued < requests and time.perf_counter() < deadline:
                index = issued % len(bodies)
                issued += 1
                sent = time.perf_counter()
                try:
                    status, answer = await connection.post("/v1/recognize", bodies[index], content_type)
                    text = json.loads(answer)["results"][0]["text"] if status == 200 else None
                except (OSError, ValueError, KeyError, IndexError, asyncio.IncompleteReadError):
                    await connection.close()
                    text = None
                if text is None:
                    level.errors += 1
                    continue
                level.latencies.append(time.perf_counter() - sent)
                level.mismatches += text != expected[index]
        finally:
            await connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    level.seconds = time.perf_counter() - started
    return level


def server_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("crnn_batch_size_sum ") or line.startswith("crnn_batch_size_count "):
            name, value = line.split()
            values[name] = float(value)
    return values


def peak_memory_mb(pid: int) -> float:
    """VmHWM (peak resident memory) of ``pid`` and its descendants, summed."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total_kb += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, StopIteration):
            continue
    return total_kb / 1024


def backend_throughput(recognizer: Recognizer, images: list[bytes], repeats: int) -> tuple[float, list[str]]:
    recognizer.recognize(images[:BASELINE_BATCH], batch_size=BASELINE_BATCH)  # warm-up
    rates, texts = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        predictions = recognizer.recognize(images, batch_size=BASELINE_BATCH)
        rates.append(len(images) / (time.perf_counter() - started))
        texts = [prediction.text for prediction in predictions]
    return statistics.median(rates), texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="TSV of image paths and labels")
    parser.add_argument("--count", type=int, default=512, help="images used (default: %(default)s)")
    parser.add_argument("--model", help="model file (default: the bundled model)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="engine threads, server and backend alike")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=1000, help="requests per level (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=40.0, help="at most this long per level")
    parser.add_argument("--repeats", type=int, default=3, help="backend timings before and after (median)")
    parser.add_argument("--serve-args", nargs=argparse.REMAINDER, default=[], help="more crnn serve flags")
    args = parser.parse_args()

    names, images = load_images(args.labels, args.count)
    bodies = [multipart(name, image) for name, image in zip(names, images, strict=True)]
    # The service decodes greedily by default (serve/app.py); the backend alone is timed the same way.
    recognizer = Recognizer.load(args.model, backend=args.backend, threads=args.threads, decoder="greedy")
    before, expected = backend_throughput(recognizer, images, args.repeats)
    flags = ["--threads", str(args.threads), "--backend", args.backend, "--log-level", "warning", *args.serve_args]
    if args.model:
        flags += ["--model", args.model]
    levels = []
    with ServerProcess(flags) as server:
        for concurrency in args.concurrency:
            counted = server_metrics(server.url)
            level = asyncio.run(
                run_level(server.host, server.port, bodies, expected, concurrency, args.requests, args.seconds)
            )
            now = server_metrics(server.url)
            batches = now["crnn_batch_size_count"] - counted["crnn_batch_size_count"]
            level.mean_batch = (now["crnn_batch_size_sum"] - counted["crnn_batch_size_sum"]) / max(batches, 1)
            level.peak_mb = peak_memory_mb(server.pid)
            levels.append(level)
            print(f"concurrency {concurrency}: {level.throughput:.0f} img/s, {level.errors} errors", flush=True)
        after, _ = backend_throughput(recognizer, images, args.repeats)

    baseline = (before + after) / 2
    engine = f"{recognizer.engine.name} {engine_precision(recognizer.engine)}"
    source = args.labels if args.labels.is_file() else SAMPLES
    print(f"\n{len(images)} images from {source}, engine {engine}, {args.threads} thread(s)\n")
    print("| concurrency | requests | errors | text differs | img/s | p50 ms | p99 ms | mean batch | server peak MB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for level in levels:
        p50, p99 = np.percentile(np.array(level.latencies) * 1000, [50, 99]) if level.latencies else (0.0, 0.0)
        cells = [
            level.concurrency, len(level.latencies) + level.errors, level.errors, level.mismatches,
            f"{level.throughput:.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{level.mean_batch:.1f}", f"{level.peak_mb:.0f}",
        ]  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    print(f"\nbackend alone, Recognizer.recognize(batch_size={BASELINE_BATCH}): {before:.0f} img/s before, "
          f"{after:.0f} after the load test (mean {baseline:.0f})")  # fmt: skip
    top = max(levels, key=lambda level: level.concurrency)
    print(f"served at concurrency {top.concurrency} / backend batch {BASELINE_BATCH}: "
          f"{top.throughput / baseline:.2f} (target >= 0.7)")  # fmt: skip


if __name__ == "__main__":
    main()
