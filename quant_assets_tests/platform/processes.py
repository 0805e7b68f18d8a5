"""Servers the platform tests start: a free loopback port, waiting for an answer, and a stop
that reaches the whole process group by PID (SIGTERM, then SIGKILL), so no child is left;
``quant-assets dev`` itself, and questions to its GraphQL API."""

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

import pytest
import requests

from quant_assets.settings import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
LOCATIONS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)


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


@contextmanager
def served(command: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[str]:
    """``command`` (a server listening on loopback ``port``) run from the repository in its own
    process group; yields its URL once ``/server_info`` answers. On exit the whole group is
    stopped by PID, and the test fails if any of it survived."""
    proc = start_in_own_group(command, log, cwd=REPO_ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(proc, f"{url}/server_info", log)
        yield url
    finally:
        stop_group(proc)
    assert not group_alive(proc.pid), f"{' '.join(command[:3])}: process group still running after SIGTERM/SIGKILL"


def dagster_dev(env: dict[str, str], log: Path):
    """``.venv/bin/quant-assets dev`` (webserver, daemon, code server) on a free port; see ``served``."""
    port = free_port()
    return served([str(VENV_BIN / "quant-assets"), "dev", "--port", str(port)], port, log, env)


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """The ``data`` of a GraphQL answer from the webserver at ``url``; fails on any error."""
    reply = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    assert not reply.get("errors"), reply["errors"]
    return reply["data"]


def location_entry(url: str, name: str = "quant_assets", timeout_s: float = 120) -> dict | None:
    """The code location's workspace entry once its code server has loaded it (or failed to);
    the webserver answers before that, loading code in the background."""
    deadline = time.time() + timeout_s
    while True:
        entries = {e["name"]: e for e in graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]}
        entry = entries.get(name)
        if (entry and entry["loadStatus"] == "LOADED") or time.time() > deadline:
            return entry
        time.sleep(1)


SCHEDULES = """query($repo: RepositorySelector!) { schedulesOrError(repositorySelector: $repo) {
  ... on Schedules { results { name scheduleState { id status } } } } }"""
STOP_SCHEDULE = """mutation($id: String!) { stopRunningSchedule(id: $id) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""


def stop_schedules(url: str, location: str = "quant_assets") -> list[str]:
    """Turn every running schedule of ``location`` off, as a person would with the UI's toggle,
    so a test's lake holds only what the test asked for (the intraday refresh fires on the hour,
    whatever the test is doing). Returns the names stopped."""
    repo = {"repositoryLocationName": location, "repositoryName": "__repository__"}
    stopped = []
    for sched in graphql(url, SCHEDULES, {"repo": repo})["schedulesOrError"]["results"]:
        if sched["scheduleState"]["status"] == "RUNNING":
            result = graphql(url, STOP_SCHEDULE, {"id": sched["scheduleState"]["id"]})["stopRunningSchedule"]
            assert result["__typename"] == "ScheduleStateResult" and result["scheduleState"]["status"] == "STOPPED", result
            stopped.append(sched["name"])
    return stopped
