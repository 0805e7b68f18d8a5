"""QUANT_ASSETS_EXECUTOR and the Celery settings: what each value builds, one line for a bad
one (from the code location and from ``quant-assets worker``), and the job pointer a worker
loads rebuilds the job the launching process ran."""

from __future__ import annotations

import os
import uuid

import pytest
from click.testing import CliRunner
from dagster import Definitions

from quant_assets.executors import (
    RUN_JOB,
    celery_config,
    executor,
    job_builder,
    reconstructable_asset_job,
    runs_out_of_process,
    worker_concurrency,
)
from quant_assets.settings import SettingsError


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch):
    for name in ("EXECUTOR", "CELERY_BROKER", "CELERY_BACKEND", "CELERY_QUEUE", "CELERY_CONCURRENCY"):
        monkeypatch.delenv(f"QUANT_ASSETS_{name}", raising=False)


def test_default_is_in_process_and_dagsters_multiprocess_is_one_setting_away(monkeypatch):
    assert executor().name == "in_process"
    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "multiprocess")
    assert executor().name == "multiprocess"


def test_celery_defaults_to_the_machines_redis_for_broker_and_results(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "celery")
    chosen = executor()
    assert chosen.name == "celery"
    config = celery_config()
    assert (config.broker, config.backend, config.queue) == ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", "dagster")
    assert config.executor_config() == {
        "broker": "redis://127.0.0.1:6379/0",
        "backend": "redis://127.0.0.1:6379/0",
        "config_source": {"task_default_queue": "dagster"},
    }


def test_a_rabbitmq_broker_returns_results_over_itself(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
    assert celery_config().backend == "rpc://"
    monkeypatch.setenv("QUANT_ASSETS_CELERY_BACKEND", "redis://127.0.0.1:6379/3")
    assert celery_config().backend == "redis://127.0.0.1:6379/3"


def test_a_broker_url_from_the_environment_reaches_the_executor_as_its_variable(monkeypatch):
    # It may carry a password: the executor's config names the variable, Dagster resolves it in the run.
    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", "redis://:s3cret@127.0.0.1:6379/0")
    config = celery_config().executor_config()
    assert config["broker"] == config["backend"] == {"env": "QUANT_ASSETS_CELERY_BROKER"}
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    "variable, value, reason, read",
    [
        ("QUANT_ASSETS_EXECUTOR", "celeri", "not one of in_process, multiprocess, celery", executor),
        ("QUANT_ASSETS_CELERY_BROKER", "127.0.0.1:6379", "not a redis://", celery_config),
        ("QUANT_ASSETS_CELERY_QUEUE", "my queue", "letters, digits", celery_config),
        ("QUANT_ASSETS_CELERY_CONCURRENCY", "0", "must be at least 1", worker_concurrency),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(monkeypatch, variable, value, reason, read):
    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "celery")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^{variable}='{value}' is not usable \({reason}"):
        read()


def test_the_worker_command_refuses_a_bad_setting_in_one_line_before_starting(qa_home, monkeypatch):
    from quant_assets.cli import main

    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", "localhost")
    result = CliRunner().invoke(main, ["worker"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "quant_assets: QUANT_ASSETS_CELERY_BROKER='localhost' is not usable (not a redis://, rediss://, amqp://, "
        "amqps://, pyamqp:// URL); expected a broker URL, e.g. redis://127.0.0.1:6379/0"
    ]


def test_the_one_definitions_carry_the_chosen_executor(qa_home, monkeypatch):
    from quant_assets.definitions import build_definitions

    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "celery")
    defs = build_definitions()
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "celery"
    assert runs_out_of_process(defs)
    # Definitions without an executor (a test's own code location) always run in-process.
    assert not runs_out_of_process(Definitions())


def test_the_pointer_a_worker_loads_rebuilds_the_bundle_import_twin(qa_home, monkeypatch):
    from quant_assets import settings
    from quant_assets.definitions import asset_job, build_definitions, bundle_definitions
    from quant_assets.resources.market_data import BundleMarketData, CcxtMarketData

    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "ccxt")
    assert job_builder(build_definitions()) == "definitions"
    assert job_builder(bundle_definitions(settings.home())) == "bundle"
    jobs = {b: asset_job(b, ["market_bars"]) for b in ("definitions", "bundle")}
    sources = {b: job.resource_defs["market_data"].configurable_resource_cls for b, job in jobs.items()}
    assert sources == {"definitions": CcxtMarketData, "bundle": BundleMarketData}
    # The job holds the run's assets and their checks, whatever else the location defines
    # (trading_book, partitioned by day alone, could not share a job with them).
    loaded = reconstructable_asset_job("bundle", ["market_bars", "derivatives"]).get_definition()
    assert loaded.name == RUN_JOB
    assert sorted(node.name for node in loaded.graph.nodes) == ["derivatives", "derivatives_checks", "market_bars", "market_bars_checks"]
    with pytest.raises(ValueError, match="no job builder 'other'"):
        reconstructable_asset_job("other", ["market_bars"])


@pytest.fixture
def no_worker_queue(monkeypatch) -> str:
    """The machine's Redis as broker, a queue no worker listens on."""
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=5).ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis must be reachable in CI ({url}): {exc}")
        pytest.skip(f"no Redis at {url}")
    queue = f"qa_nobody_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "celery")
    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", url)
    monkeypatch.setenv("QUANT_ASSETS_CELERY_QUEUE", queue)
    return queue


def test_materialize_refuses_in_one_line_when_no_worker_listens(qa_home, no_worker_queue):
    from datetime import date

    from dagster import DagsterInstance

    from quant_assets import settings
    from quant_assets.definitions import build_definitions
    from quant_assets.partitions import DaySymbol
    from quant_assets.runs import materialize

    with DagsterInstance.ephemeral() as instance:
        with pytest.raises(
            SettingsError,
            match=rf"no worker listens on queue '{no_worker_queue}' of redis://127\.0\.0\.1:6379/0; start one with `quant-assets worker`",
        ):
            materialize(build_definitions(), ["market_bars"], [DaySymbol(date(2025, 10, 5), "BTC-USDT")], settings.universe(), instance)
        assert instance.get_runs() == [], "nothing was launched"


def test_an_unreachable_broker_is_named(monkeypatch):
    from quant_assets.executors import require_worker

    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_CELERY_BROKER='redis://127\.0\.0\.1:1/0' is not reachable \("):
        require_worker(celery_config(), timeout_s=0.5)
