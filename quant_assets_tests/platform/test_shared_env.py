"""``deploy/shared.env.example`` names only variables something reads: each ``QUANT_ASSETS_*``
one is read and validated by the project's code (its value reaches what the code builds, and
taking it away changes that), each other one by the library it is there for."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from quant_assets.settings import REPO_ROOT

EXAMPLE = REPO_ROOT / "deploy" / "shared.env.example"


def parse_env_file(text: str) -> dict[str, str]:
    """``NAME=value`` lines; blank lines and ``#`` comments skipped, anything else refused."""
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(\S*)", line)
        assert match, f"{EXAMPLE.name}:{number}: not NAME=value: {line!r}"
        assert match[1] not in values, f"{EXAMPLE.name}:{number}: {match[1]} set twice"
        values[match[1]] = match[2]
    return values


def _celery():
    from quant_assets.executors import celery_config

    return celery_config()


def _executor_name():
    from quant_assets.executors import executor

    return executor().name


def _concurrency():
    from quant_assets.executors import worker_concurrency

    return worker_concurrency()


def _instance_kind():
    from quant_assets.instance import instance_kind

    return instance_kind()


def _mlflow():
    from quant_assets.registry.store import MlflowStore

    return MlflowStore.from_env()


def _mlflow_ui():
    from quant_assets.definitions import mlflow_tracking

    return mlflow_tracking().ui_url


def _ledger():
    from serving.settings import ledger_url

    return ledger_url()


def _lake():
    from quant_assets import settings

    return settings.home().lake


def _s3_endpoint():
    from quant_assets import settings

    return settings.s3_endpoint_url()


def _universe():
    from quant_assets import settings

    return settings.universe()


def _start():
    from quant_assets import settings

    return settings.start_date().isoformat()


# Each QUANT_ASSETS_* variable of the example -> the code that reads it, returning what it built.
READERS: dict[str, Callable[[], object]] = {
    "QUANT_ASSETS_EXECUTOR": _executor_name,
    "QUANT_ASSETS_CELERY_BROKER": _celery,
    "QUANT_ASSETS_CELERY_BACKEND": _celery,
    "QUANT_ASSETS_CELERY_QUEUE": _celery,
    "QUANT_ASSETS_CELERY_CONCURRENCY": _concurrency,
    "QUANT_ASSETS_PG_URL": _instance_kind,
    "QUANT_ASSETS_MLFLOW_PG_URL": _mlflow,
    "QUANT_ASSETS_MLFLOW_ARTIFACTS": _mlflow,
    "QUANT_ASSETS_MLFLOW_UI_URL": _mlflow_ui,
    "QUANT_ASSETS_LEDGER_URL": _ledger,
    "QUANT_ASSETS_LAKE_ROOT": _lake,
    "QUANT_ASSETS_S3_ENDPOINT_URL": _s3_endpoint,
    "QUANT_ASSETS_SYMBOLS": _universe,
    "QUANT_ASSETS_START_DATE": _start,
}


def _library_names() -> dict[str, bool]:
    """Each non-project variable of the example -> whether its library reads that name."""
    import botocore
    import botocore.credentials
    import mlflow.environment_variables

    botocore_root = Path(botocore.__file__).parent
    return {
        "MLFLOW_S3_ENDPOINT_URL": mlflow.environment_variables.MLFLOW_S3_ENDPOINT_URL.name == "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID": botocore.credentials.EnvProvider.ACCESS_KEY == "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY": botocore.credentials.EnvProvider.SECRET_KEY == "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION": any("'AWS_DEFAULT_REGION'" in p.read_text() for p in botocore_root.glob("*.py")),
    }


@pytest.fixture
def example() -> dict[str, str]:
    return parse_env_file(EXAMPLE.read_text())


@pytest.fixture
def example_env(example, qa_home, monkeypatch) -> dict[str, str]:
    """The example's environment, over a clean one (no QUANT_ASSETS_* from outside)."""
    for name in [n for n in os.environ if n.startswith("QUANT_ASSETS_") and n != "QUANT_ASSETS_HOME"]:
        monkeypatch.delenv(name)
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    return example


def test_every_project_variable_of_the_example_has_a_reader(example):
    project = {name for name in example if name.startswith("QUANT_ASSETS_")}
    assert project == set(READERS)


def test_every_other_variable_of_the_example_is_one_its_library_reads(example):
    others = {name for name in example if not name.startswith("QUANT_ASSETS_")}
    reads = _library_names()
    assert others == set(reads)
    assert all(reads.values()), reads


@pytest.mark.parametrize("name", sorted(READERS))
def test_each_project_variable_is_read_and_validated(example_env, monkeypatch, name):
    from quant_assets.settings import SettingsError

    # The reader accepts the example's value (a bad one would be a SettingsError) ...
    with_value = READERS[name]()
    # ... and really reads it: another value is refused in a line naming the variable, or
    # (free-form values such as a URL) changes what the reader builds.
    monkeypatch.setenv(name, "::not-the-example::")
    try:
        changed = READERS[name]()
    except SettingsError as err:
        assert str(err).startswith(f"{name}='::not-the-example::' is not usable"), err
    else:
        assert changed != with_value


def test_the_example_turns_every_shared_store_on_together(example_env):
    from quant_assets.executors import celery_config, executor

    assert executor().name == "celery"
    assert celery_config().broker == example_env["QUANT_ASSETS_CELERY_BROKER"]
    assert _instance_kind() == "postgres"
    store = _mlflow()
    assert store.tracking_uri == example_env["QUANT_ASSETS_MLFLOW_PG_URL"]
    assert store.artifact_root == example_env["QUANT_ASSETS_MLFLOW_ARTIFACTS"]
    assert _ledger() == example_env["QUANT_ASSETS_LEDGER_URL"]
    assert _lake() == example_env["QUANT_ASSETS_LAKE_ROOT"]
