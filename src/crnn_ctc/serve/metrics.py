"""Prometheus metrics (``GET /metrics``): requests, errors, latency, batch sizes, queue and inference time,
pages read.

Each app has its own registry, so two apps in one process (tests) do not collide. With several worker
processes (``--workers N``) every worker writes its values to ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics``
adds them up over all workers, whichever worker answers.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256)
# Paths reported as themselves; anything else (404s, probes) is "other", so labels stay few.
_STATIC_PREFIXES = ("/static/", "/static-offline-docs/")


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "crnn_http_requests", "HTTP requests answered, by route, method and status", ["route", "method", "status"],
            registry=registry,
        )  # fmt: skip
        self.errors = Counter("crnn_errors", "Requests refused or failed, by error code", ["code"], registry=registry)
        self.latency = Histogram(
            "crnn_http_request_duration_seconds", "Time from request to the end of the answer, by route", ["route"],
            buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.images = Counter("crnn_images", "Images recognized", registry=registry)
        self.pages = Counter("crnn_pages", "Pages read (POST /v1/read)", registry=registry)
        self.batch_size = Histogram(
            "crnn_batch_size", "Images per forward pass", buckets=_BATCH_BUCKETS, registry=registry
        )
        self.inference = Histogram(
            "crnn_inference_seconds", "Forward pass (and batch decode) time per batch", buckets=_LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.queue_wait = Histogram(
            "crnn_queue_wait_seconds", "Time an image waited for its forward pass", buckets=_LATENCY_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "crnn_queue_images", "Images waiting for a forward pass", multiprocess_mode="livesum", registry=registry
        )

    def render(self) -> tuple[bytes, str]:
        """The text exposition format, summed over worker processes when there are several."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def route_label(scope: dict[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    request_path = str(scope.get("path", ""))
    for prefix in _STATIC_PREFIXES:
        if request_path.startswith(prefix):
            return prefix.rstrip("/")
    return "other"


class MetricsMiddleware:
    """Counts every HTTP request by route and status and times it (pure ASGI: no body buffering)."""

    def __init__(self, app: Any, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_label(scope)
            self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
