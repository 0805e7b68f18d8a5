"""The trading job and its sensors, through Dagster's public APIs: one run per new closed
bar, a tick run twice for a bar places one order, the kill switch stops the next tick, and
the live sensor is stopped by default and refuses unless a person enabled live trading."""

import shutil
from datetime import datetime, timedelta, timezone

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    EventRecordsFilter,
    RunRequest,
    SkipReason,
    build_sensor_context,
    serialize_value,
)

from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.registry.store import MlflowStore
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import BundleMarketData, CcxtMarketData, FileDropMarketData
from quant_assets.resources.models import MlflowTracking
from quant_assets_tests import fitted_models
from quant_assets_tests.serving import served_trader, trading_fixtures
from quant_assets_tests.serving.conftest import SERVED
from serving import jobs
from serving.ledger import Ledger
from serving.settings import exchange_account

UTC = timezone.utc
NOON = datetime(SERVED[1].year, SERVED[1].month, SERVED[1].day, 12, tzinfo=UTC)


@pytest.fixture
def env(home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", fitted_models.SYMBOL)
    for name, value in {"QUANT_ASSETS_ROUND_TRIP_COST_BPS": "0", "QUANT_ASSETS_SERVING_HORIZON_WEIGHTS": "1h=1",
                        "QUANT_ASSETS_SERVING_RISK_BUDGET": "1", "QUANT_ASSETS_RISK_MAX_POSITION": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    return home


def _clock(monkeypatch, now):
    monkeypatch.setattr(jobs, "utc_now", lambda: now)


def test_the_code_location_with_the_job_and_sensors_loads():
    from dagster import Definitions

    from quant_assets.definitions import defs

    Definitions.validate_loadable(defs)  # op and job names share one namespace: a clash fails here
    repo = defs.get_repository_def()
    assert repo.get_job("trading_tick") and {s.name for s in repo.sensor_defs} >= {"paper_trading_sensor", "live_trading_sensor"}


def _paper_sensor(instance, source, cursor=None):
    return jobs.paper_trading_sensor(build_sensor_context(instance=instance, cursor=cursor, resources={"market_data": source}))


def test_paper_sensor_requests_one_run_per_new_closed_bar(env, monkeypatch):
    assert jobs.paper_trading_sensor.default_status == DefaultSensorStatus.RUNNING
    bundles = BundleMarketData(bundles_root=str(env / "bundles"))  # serves nothing beyond the lake
    _clock(monkeypatch, NOON + timedelta(minutes=3))
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"market_data": bundles})
        first = jobs.paper_trading_sensor(context)
        assert isinstance(first, RunRequest) and first.run_key == f"paper:{NOON.isoformat()}"
        assert first.run_config["ops"]["run_trading_tick"]["config"] == {"mode": "paper", "bar": NOON.isoformat()}
        assert context.cursor == NOON.isoformat()
        again = _paper_sensor(instance, bundles, context.cursor)
        assert isinstance(again, SkipReason)  # the same bar is not requested twice
        _clock(monkeypatch, NOON + timedelta(minutes=7))
        later = _paper_sensor(instance, bundles, context.cursor)
        assert later.run_key == f"paper:{(NOON + timedelta(minutes=5)).isoformat()}"


def test_paper_sensor_on_a_live_source_ticks_on_the_clock_not_the_lake(env, monkeypatch):
    """With the ccxt source the lake holds only what market_bars wrote (days behind); the bar
    closed by the clock is requested and the tick fetches it. Nothing here reaches a network:
    the sensor asks the source for a time, not for bars."""
    exchange = CcxtMarketData(exchange_id="binance")
    later_day = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the lake's newest bar is months older
    _clock(monkeypatch, later_day + timedelta(minutes=4, seconds=59))
    with DagsterInstance.ephemeral() as instance:
        first = _paper_sensor(instance, exchange)
        assert first.run_key == f"paper:{later_day.isoformat()}"
        assert isinstance(_paper_sensor(instance, exchange, later_day.isoformat()), SkipReason)
        _clock(monkeypatch, later_day + timedelta(minutes=5))  # the next bar has just closed
        assert _paper_sensor(instance, exchange, later_day.isoformat()).run_key == f"paper:{(later_day + timedelta(minutes=5)).isoformat()}"


def _drop(env, days, name="drop") -> FileDropMarketData:
    return FileDropMarketData(folder=str(served_trader.file_drop(env, days, name)), pattern="bars.parquet", source_name="recorded")


def _run(env, bar, instance, market_data=None, now=None):
    store = MlflowStore.from_env()
    resources = {
        "market_data": market_data or _drop(env, [SERVED[1]]),
        "lake": LakeResource(root=str(env / "lake")),
        "mlflow_tracking": MlflowTracking(tracking_uri=store.tracking_uri, artifact_root=store.artifact_root,
                                          cache_root=str(env / "cache" / "models")),
        "exchange_account": exchange_account(),
    }  # fmt: skip
    now = (now or bar).isoformat()
    config = {"ops": {"run_trading_tick": {"config": {"mode": "paper", "bar": bar.isoformat(), "now": now}}}}
    result = jobs.trading_tick_job.execute_in_process(run_config=config, resources=resources, instance=instance)
    assert result.success
    return result.output_for_node("run_trading_tick")


def test_the_runs_page_shows_positions_cash_and_pnl_and_never_a_key(env, monkeypatch):
    served_trader.crown(env)
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_KEY", trading_fixtures.FAKE.api_key)
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_SECRET", trading_fixtures.FAKE.secret)
    with DagsterInstance.ephemeral() as instance:
        _run(env, NOON, instance)
        _run(env, NOON + timedelta(minutes=5), instance)  # the fill
        records = instance.get_event_records(EventRecordsFilter(event_type=DagsterEventType.STEP_OUTPUT), ascending=True)
        meta = records[-1].event_log_entry.dagster_event.step_output_data.metadata
        assert meta["positions"].value[0]["symbol"] == "BTC/USDT" and meta["positions"].value[0]["quantity"] != 0
        assert {"cash", "equity", "pnl_day", "pnl_total", "orders_placed", "halts"} <= set(meta)
        assert meta["book"].value == "paper/champion"
        everything = "".join(serialize_value(e) for run in instance.get_runs() for e in instance.all_logs(run.run_id))
    for secret in (trading_fixtures.FAKE.api_key, trading_fixtures.FAKE.secret, "LEAKCANARY"):
        assert secret not in everything


def test_a_bar_fetched_after_the_lakes_last_partition_is_traded_on(env):
    """The lake stops at the end of 11-10; the market source has 11-11. Without the fetched
    bars the tick at 11-11 01:00 halts on stale bars; with them it decides, orders, and the
    order fills at the next fetched bar's open on the next tick."""
    from datetime import timedelta as td

    served_trader.crown(env)
    day = SERVED[1] + td(days=1)
    exchange = _drop(env, [day], "exchange")  # what the source holds beyond the lake
    for d in (day, day + td(days=1)):  # the lake's newest partition is SERVED[1]
        shutil.rmtree(ParquetLake(str(env / "lake")).partition_path(BARS_ASSET, DaySymbol(d, fitted_models.SYMBOL)).parent)
    t = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
    ledger = Ledger.open()
    with DagsterInstance.ephemeral() as instance:
        stale = _run(env, t, instance, market_data=_drop(env, [SERVED[1]], "old"))
        assert "DATA_STALE_BARS" in stale["data_halts"][fitted_models.SYMBOL] and stale["orders"] == []

    with DagsterInstance.ephemeral() as instance:
        fresh = _run(env, t, instance, market_data=exchange)
        assert fresh["fetched_bars"] == 12 and fresh["data_halts"] == {}  # 00:00..00:55 closed by 01:00
        assert fresh["decisions"] == 1 and len(fresh["orders"]) == 1, fresh
        assert ledger.bookkeeping.order(fresh["orders"][0])["status"] != "filled"  # the 01:00 bar has not closed yet
        later = t + td(minutes=5)
        _run(env, later, instance, market_data=exchange)
        assert ledger.bookkeeping.order(fresh["orders"][0])["status"] == "filled"


def test_a_tick_run_twice_for_a_bar_places_one_order_and_the_kill_switch_stops_the_next(env):
    served_trader.crown(env)
    ledger = Ledger.open()
    with DagsterInstance.ephemeral() as instance:
        first = _run(env, NOON, instance)
        assert first["decisions"] == 1 and len(first["orders"]) == 1, first
        again = _run(env, NOON, instance)
        assert again["orders"] == first["orders"]
        assert [o["client_order_id"] for o in ledger.bookkeeping.orders("paper")] == first["orders"]  # one order, not two

        ledger.journal.set_kill_switch(True, "tester", "drill")
        killed = _run(env, NOON + timedelta(hours=1), instance)
        assert killed["halts"] == ["KILL_SWITCH"]
        assert len(ledger.bookkeeping.orders("paper")) == 1
        assert any(e["code"] == "KILL_SWITCH" for e in ledger.journal.risk_events("paper"))
        ledger.journal.set_kill_switch(False, "tester", "drill over")
        resumed = _run(env, NOON + timedelta(hours=2), instance)
        assert resumed["halts"] == [] and len(ledger.bookkeeping.orders("paper")) == 1 + len(resumed["orders"])


def test_live_sensor_is_stopped_and_refuses_unless_a_person_enabled_it(env, monkeypatch):
    assert jobs.live_trading_sensor.default_status == DefaultSensorStatus.STOPPED
    _clock(monkeypatch, NOON + timedelta(minutes=3))
    monkeypatch.delenv("QUANT_ASSETS_EXCHANGE_API_KEY", raising=False)
    monkeypatch.delenv("QUANT_ASSETS_EXCHANGE_API_SECRET", raising=False)
    ledger = Ledger.open()
    with DagsterInstance.ephemeral() as instance:

        def evaluate():
            bundles = BundleMarketData(bundles_root=str(env / "bundles"))
            resources = {"market_data": bundles, "exchange_account": exchange_account()}  # the keys as the env has them now
            return jobs.live_trading_sensor(build_sensor_context(instance=instance, resources=resources))

        assert "not been enabled by a person" in evaluate().skip_message
        ledger.journal.set_live_enabled(True, "a person", "drill")
        assert "API_KEY" in evaluate().skip_message  # enabled, but no keys
        monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_KEY", "k")
        monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_SECRET", "s")
        request = evaluate()
        assert isinstance(request, RunRequest) and request.run_config["ops"]["run_trading_tick"]["config"]["mode"] == "live"
        ledger.journal.set_kill_switch(True, "tester", "drill")
        assert "kill switch" in evaluate().skip_message
        ledger.journal.set_kill_switch(False, "tester", "drill over")
        ledger.journal.set_live_enabled(False, "a person", "done")
        assert "not been enabled" in evaluate().skip_message


def test_paper_replay_command_trades_the_champion_into_the_ledger(env):
    from click.testing import CliRunner

    from quant_assets.cli import main

    served_trader.crown(env)
    result = CliRunner().invoke(
        main, ["paper", "replay", "--start", "2025-11-10T11:00", "--end", "2025-11-10T13:00", "--symbols", fitted_models.SYMBOL]
    )
    assert result.exit_code == 0, result.output
    assert "replayed 24 ticks" in result.output
    orders = [o for o in Ledger.open().bookkeeping.orders("paper") if o["strategy"] == "replay"]
    assert orders and all(o["status"] == "filled" for o in orders)
