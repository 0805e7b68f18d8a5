"""`.venv/bin/quant-assets dev`, exactly as the README writes it, from a shell whose PATH
does not hold the venv (nothing activated): the UI starts on loopback, answers, and loads
this project's code location. Stopped by PID, the whole process group."""

from __future__ import annotations

import os
from pathlib import Path

from quant_assets.settings import REPO_ROOT
from quant_assets_tests.platform.processes import dagster_dev, location_entry


def _bare_path() -> str:
    """The PATH of a shell with nothing activated: no folder that holds a `dagster` command."""
    keep = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p and not (Path(p) / "dagster").exists()]
    return os.pathsep.join(keep or ["/usr/bin", "/bin"])


def test_readme_dev_command_starts_the_ui_without_an_activated_venv(qa_home, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "VIRTUAL_ENV", "QUANT_ASSETS_PG_URL")}
    env.update(PATH=_bare_path(), QUANT_ASSETS_HOME=str(qa_home), PYTHONPATH=str(REPO_ROOT))
    assert not any((Path(p) / "dagster").exists() for p in env["PATH"].split(os.pathsep)), "PATH still finds dagster"

    with dagster_dev(env, tmp_path / "dev.log") as url:  # stopped by PID, the whole group
        entry = location_entry(url)
        assert entry and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    # The instance is this project's: QUANT_ASSETS_HOME/dagster, prepared by the command.
    assert (qa_home / "dagster" / "dagster.yaml").exists()
