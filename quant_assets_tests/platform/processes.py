"""Servers the platform tests start: a free loopback port, waiting for an answer, and a stop
that reaches the whole process group by PID (SIGTERM, then SIGKILL), so no child is left."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_in_own_group(cmd: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """``cmd`` in a new session (its own process group), stdout and stderr into ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def wait_until_answers(proc: subprocess.Popen, url: str, log: Path, timeout_s: float = 120) -> None:
    """Poll ``url`` until it answers 2xx; fail with the log's tail if the process dies first."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the group and wait for its leader; SIGKILL whatever of the group is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    deadline = time.time() + 10
    while group_alive(proc.pid) and time.time() < deadline:
        os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.2)
    proc.wait(timeout=5)
