"""Running the service under uvicorn: one process, or ``--workers N`` processes each with its own model
and batcher (uvicorn's process manager), their metrics summed through a shared folder."""

from __future__ import annotations

import os
import sys
import tempfile

from .app import CONFIG_ENV, create_app, engine_precision
from .config import ServeConfig
from .metrics import MULTIPROC_ENV
from .timeouts import PROTOCOL


def run_server(config: ServeConfig) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM), then finish the requests in flight and return."""
    import uvicorn

    options = {
        "host": config.host, "port": config.port, "log_level": config.log_level, "access_log": config.access_log,
        # Keep-alive clients (the load test, browsers) reuse connections; 5 s idle is uvicorn's default.
        "timeout_keep_alive": min(5.0, config.client_timeout_s),
        # uvicorn's protocol with a deadline for each request's headers (--client-timeout-s, timeouts.py).
        "http": PROTOCOL,
    }  # fmt: skip
    where = f"http://{config.host}:{config.port}"
    if config.workers == 1:
        app = create_app(config)  # the model loads here: a bad model file fails before listening
        service = app.state.service
        info = service.recognizer.info
        print(
            f"crnn serve: {info.path} ({info.config.arch}, {service.recognizer.engine.name} "
            f"{engine_precision(service.recognizer.engine)}) on {where}: web page {where}/, API docs {where}/docs",
            file=sys.stderr, flush=True,
        )  # fmt: skip
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    _check_model(config)
    with tempfile.TemporaryDirectory(prefix="crnn-serve-metrics-") as metrics_dir:
        os.environ[CONFIG_ENV] = config.to_json()
        os.environ[MULTIPROC_ENV] = metrics_dir  # read by prometheus_client when each worker imports it
        print(f"crnn serve: {config.workers} worker processes on {where}", file=sys.stderr, flush=True)
        uvicorn.run("crnn_ctc.serve.app:app_from_environment", factory=True, workers=config.workers, **options)  # type: ignore[arg-type]


def _check_model(config: ServeConfig) -> None:
    """Fail now, in the parent, on a model file that every worker would fail to load."""
    from ..bundle import read_description, resolve_model_path

    path = resolve_model_path(config.model, config.model_dir)
    if path.suffix != ".onnx":
        read_description(path)
