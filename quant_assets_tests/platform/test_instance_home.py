"""prepare_dagster_home writes the repository's instance template, and never overwrites a
dagster.yaml that a person wrote or edited."""

from __future__ import annotations

import pytest

from quant_assets.instance import INSTANCE_TEMPLATES, prepare_dagster_home
from quant_assets.settings import SettingsError

PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def test_a_fresh_home_gets_the_sqlite_template(qa_home, monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)
    home = prepare_dagster_home()
    assert home == qa_home / "dagster"
    assert (home / "dagster.yaml").read_bytes() == INSTANCE_TEMPLATES["sqlite"].read_bytes()


def test_an_unedited_template_follows_the_chosen_storage(qa_home, monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)
    config = prepare_dagster_home() / "dagster.yaml"
    monkeypatch.setenv("QUANT_ASSETS_PG_URL", PG_URL)
    prepare_dagster_home()
    assert config.read_bytes() == INSTANCE_TEMPLATES["postgres"].read_bytes()
    monkeypatch.delenv("QUANT_ASSETS_PG_URL")
    prepare_dagster_home()
    assert config.read_bytes() == INSTANCE_TEMPLATES["sqlite"].read_bytes()


def test_a_users_dagster_yaml_is_never_overwritten(qa_home, monkeypatch):
    mine = "telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 7\n"
    config = qa_home / "dagster" / "dagster.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(mine)
    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)
    prepare_dagster_home()
    assert config.read_text() == mine
    monkeypatch.setenv("QUANT_ASSETS_PG_URL", PG_URL)
    with pytest.warns(UserWarning, match="QUANT_ASSETS_PG_URL is set but .*dagster.yaml is your own"):
        prepare_dagster_home()
    assert config.read_text() == mine
    assert [p.name for p in config.parent.iterdir()] == ["dagster.yaml"], "no temporary file left behind"


def test_a_malformed_postgres_url_is_named(qa_home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_PG_URL", "mysql://root@localhost/db")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_PG_URL='mysql://root@localhost/db' is not usable"):
        prepare_dagster_home()
