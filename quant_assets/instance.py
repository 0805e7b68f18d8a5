"""The Dagster instance lives under ``QUANT_ASSETS_HOME/dagster`` unless DAGSTER_HOME says otherwise.

``prepare_dagster_home`` puts the repository's instance settings there: ``dagster.yaml``
(SQLite) by default, ``dagster.postgres.yaml`` when ``QUANT_ASSETS_PG_URL`` is set. A
``dagster.yaml`` that a person wrote or edited there is theirs and is never overwritten.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from dagster import DagsterInstance
from upath import UPath

from quant_assets import settings
from quant_assets.lake.store import atomic_write_bytes

INSTANCE_TEMPLATES = {
    "sqlite": settings.REPO_ROOT / "dagster.yaml",
    "postgres": settings.REPO_ROOT / "dagster.postgres.yaml",
}


def instance_kind() -> str:
    return "postgres" if settings.current().instance.pg_url else "sqlite"


def is_template_copy(config: Path) -> bool:
    """Whether ``config`` is byte for byte one of the repository's templates (so ours to replace)."""
    text = config.read_bytes()
    return any(text == template.read_bytes() for template in INSTANCE_TEMPLATES.values())


def prepare_dagster_home() -> Path:
    """Create DAGSTER_HOME with the chosen dagster.yaml and export it for this process.

    The template is written when there is no ``dagster.yaml`` or it is an unedited template
    copy (switching SQLite <-> PostgreSQL); any other file is the user's and stays as it is.
    """
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or settings.home().dagster_home)
    dagster_home.mkdir(parents=True, exist_ok=True)
    config, kind = dagster_home / "dagster.yaml", instance_kind()
    if not config.exists() or is_template_copy(config):
        # Whole or not at all: a killed process never leaves a half-written instance config.
        atomic_write_bytes(UPath(config), INSTANCE_TEMPLATES[kind].read_bytes())
    elif kind == "postgres":
        warnings.warn(f"QUANT_ASSETS_PG_URL is set but {config} is your own; it is used as it is", stacklevel=2)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def get_instance() -> DagsterInstance:
    prepare_dagster_home()
    return DagsterInstance.get()
