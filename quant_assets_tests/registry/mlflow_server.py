"""``quant-assets mlflow`` as a user starts it, on a free loopback port, for tests that talk
to the served UI; stopped by its PID (its own process group: the server and its workers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

STARTUP_S = 240  # ~10 s on a quiet machine; much more on a busy one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_mlflow_ui() -> Iterator[str]:
    """The UI's base URL once ``/health`` answers; the server is stopped on exit, whatever happened."""
    port = free_port()
    cli = Path(sys.executable).with_name("quant-assets")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # the venv need not be on PATH
    server = subprocess.Popen([str(cli), "mlflow", "--port", str(port)], env=env, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still starting
                pass
            assert server.poll() is None, server.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, f"the MLflow UI did not answer within {STARTUP_S} s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
