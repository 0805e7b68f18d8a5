"""The Dagster instance lives under ``QUANT_ASSETS_HOME/dagster`` unless DAGSTER_HOME says otherwise.

``prepare_dagster_home`` puts the repository's instance settings there: ``dagster.yaml``
(SQLite) by default, ``dagster.postgres.yaml`` when ``QUANT_ASSETS_PG_URL`` is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import DagsterInstance

from quant_assets import settings

INSTANCE_TEMPLATES = {
    "sqlite": settings.REPO_ROOT / "dagster.yaml",
    "postgres": settings.REPO_ROOT / "dagster.postgres.yaml",
}


def instance_kind() -> str:
    return "postgres" if os.environ.get("QUANT_ASSETS_PG_URL") else "sqlite"


def prepare_dagster_home() -> Path:
    """Create DAGSTER_HOME with the chosen dagster.yaml and export it for this process."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or settings.home().dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATES[instance_kind()], dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
