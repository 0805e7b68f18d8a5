"""The daily and intraday source schedules, driven with Dagster's ``build_schedule_context``;
the intraday request is then run against a replayed exchange download at a fixed clock."""

import shutil
from datetime import date, datetime, timedelta

import pytest
from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_schedule_context, instance_for_test

from quant_assets import settings
from quant_assets.automation import cadence
from quant_assets.automation.schedules import CATCH_UP_DAYS, build_source_schedules, external_sources
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets_tests.automation.condition_ticks import SYMBOLS, definitions, report, utc
from quant_assets_tests.conftest import SPOT_FIXTURE

BARS_AND_DERIVATIVES = ["market_bars", "derivatives"]


@pytest.fixture
def instance(tmp_path):
    """A persistent instance: a schedule context needs an instance reference, as in the daemon."""
    with instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def _tick(schedule_def, at: datetime, instance: DagsterInstance | None = None):
    return schedule_def(build_schedule_context(scheduled_execution_time=at, instance=instance))


def _schedules(external=BARS_AND_DERIVATIVES):
    daily, intraday = build_source_schedules(external)
    return daily, intraday


def test_the_daily_run_asks_for_yesterday_for_every_symbol_after_utc_midnight(instance):
    daily, _ = _schedules()
    assert (daily.cron_schedule, daily.execution_timezone) == ("10 0 * * *", "UTC")
    report(instance, ["market_bars"], date(2025, 10, 1), date(2025, 10, 6))  # every night so far ran
    request = _tick(daily, utc(2025, 10, 8, 0, 10), instance)
    assert isinstance(request, RunRequest)
    assert request.run_key == "daily:2025-10-07"
    # one run over the day's row: 2025-10-07 of the first symbol .. of the last
    assert (request.partition_key_range.start, request.partition_key_range.end) == ("2025-10-07|BTC-USDT", "2025-10-07|SOL-USDT")
    assert request.asset_selection == [AssetKey("market_bars"), AssetKey("derivatives")]


def test_nights_the_daemon_missed_are_caught_up_from_the_first_gap(instance):
    daily, _ = _schedules()
    report(instance, ["market_bars"], date(2025, 10, 1), date(2025, 10, 12))
    report(instance, ["market_bars"], date(2025, 10, 13), date(2025, 10, 13), ["BTC-USDT"])  # 10-13 half done
    request = _tick(daily, utc(2025, 10, 16, 0, 10), instance)
    assert (request.partition_key_range.start, request.partition_key_range.end) == ("2025-10-13|BTC-USDT", "2025-10-15|SOL-USDT")
    assert request.run_key == "daily:2025-10-15"
    # a gap older than CATCH_UP_DAYS is left to a backfill: the run stays a week at most
    request = _tick(daily, utc(2025, 10, 30, 0, 10), instance)
    assert request.partition_key_range.start == f"2025-10-{29 - CATCH_UP_DAYS + 1}|BTC-USDT"


def test_the_intraday_refresh_asks_for_today_and_skips_midnight():
    _, intraday = _schedules()
    assert (intraday.cron_schedule, intraday.execution_timezone) == ("0 * * * *", "UTC")
    request = _tick(intraday, utc(2025, 10, 7, 13, 0))
    assert (request.partition_key_range.start, request.partition_key_range.end) == ("2025-10-07|BTC-USDT", "2025-10-07|SOL-USDT")
    assert request.run_key == "intraday:2025-10-07T13:00:00+00:00"
    skipped = _tick(intraday, utc(2025, 10, 8, 0, 0))
    assert isinstance(skipped, SkipReason) and "no bar of 2025-10-08 has closed" in skipped.skip_message


def test_with_every_source_on_bundles_the_schedules_skip_and_say_why():
    daily, intraday = _schedules([])
    for schedule_def, at in ((daily, utc(2025, 10, 8, 0, 10)), (intraday, utc(2025, 10, 7, 13, 0))):
        result = _tick(schedule_def, at)
        assert isinstance(result, SkipReason) and "inbox" in result.skip_message


@pytest.mark.parametrize(
    "minute, every, daily_cron, intraday_cron",
    [("10", "60", "10 0 * * *", "0 * * * *"), ("25", "15", "25 0 * * *", "*/15 * * * *"), ("0", "120", "0 0 * * *", "0 */2 * * *")],
)
def test_the_cadence_is_read_from_the_settings(monkeypatch, minute, every, daily_cron, intraday_cron):
    monkeypatch.setenv("QUANT_ASSETS_DAILY_MINUTE", minute)
    monkeypatch.setenv("QUANT_ASSETS_INTRADAY_MINUTES", every)
    daily, intraday = _schedules()
    assert (daily.cron_schedule, intraday.cron_schedule) == (daily_cron, intraday_cron)


@pytest.mark.parametrize("name, value, words", [
    ("QUANT_ASSETS_INTRADAY_MINUTES", "7", "does not divide a day into whole 5m bars"),
    ("QUANT_ASSETS_INTRADAY_MINUTES", "90", "whole hours"),
    ("QUANT_ASSETS_INTRADAY_MINUTES", "2", "at least 5"),
    ("QUANT_ASSETS_DAILY_MINUTE", "60", "at most 59"),
])  # fmt: skip
def test_a_bad_cadence_is_one_line_naming_the_setting(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError) as err:
        cadence.intraday_cron() if "INTRADAY" in name else cadence.daily_cron()
    assert str(err.value).startswith(f"{name}={value!r}") and words in str(err.value) and "\n" not in str(err.value)


def test_only_the_sources_that_do_not_read_bundles_are_scheduled(qa_home, monkeypatch, tmp_path):
    monkeypatch.delenv("QUANT_ASSETS_MARKET_SOURCE", raising=False)
    assert external_sources(definitions().resources) == []
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "ccxt")
    assert external_sources(definitions().resources) == BARS_AND_DERIVATIVES  # social text has no ccxt source
    monkeypatch.setenv("QUANT_ASSETS_SOCIAL_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(tmp_path))
    assert external_sources(definitions().resources) == [*BARS_AND_DERIVATIVES, "social_text"]


def test_an_intraday_refresh_writes_only_the_bars_closed_by_its_clock(qa_home, monkeypatch, tmp_path):
    """The 13:00 refresh of 2025-10-07, run at 13:02 against a replay of the exchange's bars."""
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(SPOT_FIXTURE, drop / "binance_spot_5m.parquet")  # holds the whole of 2025-10-07
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(drop))
    monkeypatch.setenv("QUANT_ASSETS_DERIVATIVES_SOURCE", "bundle")
    monkeypatch.setenv("QUANT_ASSETS_SOCIAL_SOURCE", "bundle")
    clock = utc(2025, 10, 7, 13, 2)
    for module in ("quant_assets.assets.market", "quant_assets.assets.market_checks"):
        monkeypatch.setattr(f"{module}.utc_now", lambda: clock)
    defs = definitions()
    intraday = next(s for s in defs.schedules if s.name == "intraday_sources")
    request = _tick(intraday, utc(2025, 10, 7, 13, 0))
    assert request.asset_selection == [AssetKey("market_bars")]
    with DagsterInstance.ephemeral() as instance:
        result = defs.get_job_def("source_refresh").execute_in_process(instance=instance, tags=request.tags, asset_selection=request.asset_selection)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(e.passed for e in checks), [(e.check_name, e.description) for e in checks if not e.passed]
    lake = ParquetLake(settings.home().lake)
    for symbol in SYMBOLS:
        bars = lake.read("market_bars", DaySymbol(date(2025, 10, 7), symbol))
        # the 12:55 bar closed at 13:00; the 13:00 bar, still forming at 13:02, is not written
        assert bars["ts"].max() == utc(2025, 10, 7, 12, 55)
        assert bars.height == 13 * 12 and bars["available_at"].max() <= clock
        assert (bars["available_at"] - bars["ts"]).unique().to_list() == [timedelta(minutes=5)]
