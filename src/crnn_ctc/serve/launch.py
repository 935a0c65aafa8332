"""``ServerProcess``: ``crnn serve`` in a child process on a free loopback port, started and waited for
(``GET /health``), then stopped with SIGTERM. The tests and ``benchmarks/serve_load.py`` use it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType
from typing import IO


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        startup_timeout: float = 180.0,
    ) -> None:
        """``args``: extra ``crnn serve`` flags. ``startup_timeout`` covers a first ONNX export on a fresh machine."""
        self.args = list(args)
        self.host = host
        self.env = env
        self.startup_timeout = startup_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def start(self) -> ServerProcess:
        self.port = free_port(self.host)
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the life of the server; closed on exit)
        command = [sys.executable, "-m", "crnn_ctc", "serve", "--host", self.host, "--port", str(self.port), *self.args]
        env = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"crnn serve exited with code {self.process.returncode}:\n{self.log_text()}")
            if self.healthy():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"crnn serve did not answer /health within {self.startup_timeout:.0f} s:\n{self.log_text()}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                return response.status == 200 and json.load(response).get("status") == "ok"
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL if it hangs; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", errors="replace")

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None
