"""`.venv/bin/quant-assets dev`, exactly as the README writes it, from a shell whose PATH
does not hold the venv (nothing activated): the UI starts on loopback, answers, and loads
this project's code location. Stopped by PID, the whole process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import requests

from quant_assets.settings import REPO_ROOT
from quant_assets_tests.platform.processes import free_port, group_alive, start_in_own_group, stop_group, wait_until_answers

VENV_BIN = Path(sys.executable).parent
LOCATIONS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"


def _bare_path() -> str:
    """The PATH of a shell with nothing activated: no folder that holds a `dagster` command."""
    keep = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and not (Path(p) / "dagster").exists()]
    return os.pathsep.join(keep or ["/usr/bin", "/bin"])


def _location(url: str, timeout_s: float = 120) -> dict:
    """The quant_assets location entry once the code server has loaded it (or failed to)."""
    deadline = time.time() + timeout_s
    while True:
        reply = requests.post(f"{url}/graphql", json={"query": LOCATIONS}, timeout=30).json()
        entries = {e["name"]: e for e in reply["data"]["workspaceOrError"]["locationEntries"]}
        entry = entries.get("quant_assets")
        if (entry and entry["loadStatus"] == "LOADED") or time.time() > deadline:
            return entry
        time.sleep(1)


def test_readme_dev_command_starts_the_ui_without_an_activated_venv(qa_home, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "VIRTUAL_ENV", "QUANT_ASSETS_PG_URL")}
    env.update(PATH=_bare_path(), QUANT_ASSETS_HOME=str(qa_home), PYTHONPATH=str(REPO_ROOT))
    port, log = free_port(), tmp_path / "dev.log"
    assert not any((Path(p) / "dagster").exists() for p in env["PATH"].split(os.pathsep)), "PATH still finds dagster"

    proc = start_in_own_group([str(VENV_BIN / "quant-assets"), "dev", "--port", str(port)], log, cwd=REPO_ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(proc, f"{url}/server_info", log)
        entry = _location(url)
        assert entry and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    finally:
        stop_group(proc)
    assert not group_alive(proc.pid), "dagster dev's process group still running after SIGTERM/SIGKILL"
    # The instance is this project's: QUANT_ASSETS_HOME/dagster, prepared by the command.
    assert (qa_home / "dagster" / "dagster.yaml").exists()
