"""Secrets never shown by Dagster: with a ledger password, exchange keys (real and testnet), an
MLflow database password and S3 keys planted in the environment, a trading tick runs on a real
instance; then the instance's files (event log, run storage, compute logs), the run's config
and the webserver's GraphQL (the run, its logs, every resource's configured values) are read
back, and none of the planted values is in any of them. The resources show the variables'
names instead (EnvVar)."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dagster import DagsterInstance, serialize_value

from quant_assets.instance import prepare_dagster_home
from quant_assets.settings import REPO_ROOT
from quant_assets_tests import fitted_models
from quant_assets_tests.platform.processes import free_port, graphql, location_entry, served
from quant_assets_tests.serving import served_trader
from quant_assets_tests.serving.conftest import SERVED
from quant_assets_tests.serving.trading_fixtures import FAKE
from serving.ledger import Ledger

UTC = timezone.utc
NOON = datetime(SERVED[1].year, SERVED[1].month, SERVED[1].day, 12, tzinfo=UTC)
LEDGER_PW = "QAPLANTEDPW-LEAKCANARY-LEDGER"
MLFLOW_PW = "QAPLANTEDPW-LEAKCANARY-MLFLOW"
PLANTED = {
    "QUANT_ASSETS_EXCHANGE_API_KEY": FAKE.api_key,
    "QUANT_ASSETS_EXCHANGE_API_SECRET": FAKE.secret,
    "QUANT_ASSETS_EXCHANGE_SANDBOX_API_KEY": "QATESTNETKEY-LEAKCANARY",
    "QUANT_ASSETS_EXCHANGE_SANDBOX_API_SECRET": "QATESTNETSECRET-LEAKCANARY",
    "AWS_ACCESS_KEY_ID": "QAAWSKEYID-LEAKCANARY",
    "AWS_SECRET_ACCESS_KEY": "QAAWSSECRET-LEAKCANARY",
}
SECRETS = [*PLANTED.values(), LEDGER_PW, MLFLOW_PW]

RUN = """query ($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { runId status runConfigYaml tags { key value } } }
  logsForRun(runId: $runId) { ... on EventConnection { events { __typename ... on MessageEvent { message } } } }
}"""
RESOURCES = """{ repositoriesOrError { ... on RepositoryConnection { nodes { name
  allTopLevelResourceDetails { name configuredValues { key value type } } } } } }"""


def _leaks(text: str) -> list[str]:
    return [s[:16] for s in SECRETS if s in text]


def test_a_tick_run_shows_no_secret_in_the_instance_the_run_or_the_ui(home, pg_database, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", fitted_models.SYMBOL)
    for name, value in {"QUANT_ASSETS_ROUND_TRIP_COST_BPS": "0", "QUANT_ASSETS_SERVING_HORIZON_WEIGHTS": "1h=1",
                        "QUANT_ASSETS_SERVING_RISK_BUDGET": "1", "QUANT_ASSETS_RISK_MAX_POSITION": "1", **PLANTED}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    user = pg_database.split("://", 1)[1].split("@", 1)[0]
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", pg_database.replace(f"{user}@", f"{user}:{LEDGER_PW}@", 1))
    monkeypatch.setenv("QUANT_ASSETS_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")  # the served champions
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "file")  # the day's bars as the tick fetches them
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(served_trader.file_drop(home, [SERVED[1]])))
    monkeypatch.setenv("QUANT_ASSETS_BARS_FILES", "bars.parquet")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    prepare_dagster_home()
    served_trader.crown(home)

    from quant_assets.definitions import build_definitions

    config = {"ops": {"run_trading_tick": {"config": {"mode": "paper", "bar": NOON.isoformat(), "now": NOON.isoformat()}}}}
    with DagsterInstance.get() as instance:
        job = build_definitions().get_job_def("trading_tick")
        for bar in (NOON, NOON + timedelta(minutes=5)):  # an order, then its fill
            config["ops"]["run_trading_tick"]["config"].update(bar=bar.isoformat(), now=bar.isoformat())
            assert job.execute_in_process(run_config=config, instance=instance).success
        runs = instance.get_runs()
        stored = "".join(serialize_value(e) for r in runs for e in instance.all_logs(r.run_id))
        stored += "".join(serialize_value(r) for r in runs)  # run config, tags, the job snapshot's ids
    assert Ledger.open().bookkeeping.orders("paper"), "the tick really traded through the planted ledger URL"
    assert len(runs) == 2 and "run_trading_tick" in stored

    instance_files = b"".join(p.read_bytes() for p in (tmp_path / "dagster").rglob("*") if p.is_file())
    leaks = {"event log and runs": _leaks(stored), "instance files": _leaks(instance_files.decode("latin-1"))}

    # The UI: a webserver over the project's workspace and this instance. Its code location has
    # the MLflow store on PostgreSQL with a password (read at load time, never connected here).
    env = {**os.environ, "QUANT_ASSETS_MLFLOW_PG_URL": f"postgresql+psycopg2://{user}:{MLFLOW_PW}@127.0.0.1:5432/mlflow"}
    env.pop("QUANT_ASSETS_MLFLOW_TRACKING_URI")
    port, log = free_port(), tmp_path / "webserver.log"
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    with served(command, port, log, env) as url:
        entry = location_entry(url)
        assert entry and entry["loadStatus"] == "LOADED", entry
        replies = [graphql(url, RUN, {"runId": r.run_id}) for r in runs]
        resources = graphql(url, RESOURCES)
    assert all(r["runOrError"]["status"] == "SUCCESS" for r in replies)
    assert any("tick" in (e.get("message") or "") for r in replies for e in r["logsForRun"]["events"])
    (repo,) = resources["repositoriesOrError"]["nodes"]
    configured = {(d["name"], v["key"]): (v["type"], v["value"]) for d in repo["allTopLevelResourceDetails"] for v in d["configuredValues"]}
    assert configured["exchange_account", "api_key"] == ("ENV_VAR", "QUANT_ASSETS_EXCHANGE_API_KEY")
    assert configured["exchange_account", "sandbox_secret"] == ("ENV_VAR", "QUANT_ASSETS_EXCHANGE_SANDBOX_API_SECRET")
    assert configured["mlflow_tracking", "tracking_uri"] == ("ENV_VAR", "QUANT_ASSETS_MLFLOW_PG_URL")
    leaks |= {"graphql runs and logs": _leaks(str(replies)), "graphql resources": _leaks(str(resources)),
              "webserver log": _leaks(Path(log).read_text(errors="replace"))}  # fmt: skip
    assert {k: v for k, v in leaks.items() if v} == {}
