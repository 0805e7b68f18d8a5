"""The bundle inbox sensor, driven with ``build_sensor_context`` on an instance: each settled
drop unpacked once, refusals logged and filed away without stopping the sensor; and the whole
drill: a new day of recorded bars dropped in the inbox, the requested import run, and the
automation conditions requesting the downstream partitions, with no command typed."""

import logging
import os
import time
from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, SensorResult, SkipReason, build_sensor_context, evaluate_automation_conditions

from quant_assets import settings
from quant_assets.automation.inbox import IMPORT_JOB, IMPORTED, REFUSED, bundle_inbox_sensor, inbox_folder
from quant_assets.bundles.export import write_bundle
from quant_assets.bundles.importer import BUNDLE_ID_TAG
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.runs import PartitionRange
from quant_assets_tests.automation.condition_ticks import definitions, keys, requested, utc
from quant_assets_tests.bundles.archives import PARTS, bundle_entries

SETTLED = 3600  # seconds ago: older than QUANT_ASSETS_INBOX_SETTLE_S (default 10)


def _drop(path: Path, data: bytes | None = None, source: Path | None = None, age_s: float = SETTLED) -> Path:
    """Put a file in the inbox as if it had been copied there ``age_s`` seconds ago."""
    path.write_bytes(data if data is not None else source.read_bytes())
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def inbox(qa_home) -> Path:
    folder = inbox_folder()
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def bundle(tmp_path):
    """market_bars of BTC and ETH for 2025-10-06 and 07 (real Binance bars), by the real exporter."""
    path = tmp_path / "bars-2025-10-06_07.tar.gz"
    return path, write_bundle(path, bundle_entries())


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def tick_log() -> _Lines:
    """Collects what the sensor writes to its tick's log (``context.log``)."""
    return _Lines()


def _tick(instance, log: _Lines | None = None):
    context = build_sensor_context(instance=instance)
    if log is not None:
        context.log.addHandler(log)
    return bundle_inbox_sensor(context)


def test_each_drop_is_unpacked_once_and_a_refusal_does_not_stop_the_sensor(inbox, bundle, fresh_instance, tick_log):
    path, manifest = bundle
    _drop(inbox / "a-broken.tar.gz", b"not a gzip file")  # the oldest: tried first
    _drop(inbox / "b-good.tar.gz", source=path)
    _drop(inbox / "c-copying.tar.gz", b"half a file", age_s=1)  # still arriving
    (inbox / "notes.txt").write_text("not a bundle")

    result = _tick(fresh_instance, tick_log)
    assert isinstance(result, SensorResult)
    (request,) = result.run_requests
    assert request.tags[BUNDLE_ID_TAG] == manifest.bundle_id and request.run_key.startswith(manifest.bundle_id + "@")
    assert request.run_config["ops"]["import_unpacked_bundle"]["config"]["bundle_id"] == manifest.bundle_id
    assert (Path(settings.home().bundles) / manifest.bundle_id / "LANDED.json").exists()

    # The refusal: one line in the tick's log, the file filed away with its reason.
    refusals = [line for line in tick_log.lines if "refused" in line]
    assert len(refusals) == 1 and refusals[0].startswith("inbox: a-broken.tar.gz refused: ")
    why = (inbox / REFUSED / "a-broken.tar.gz.why.txt").read_text()
    assert why.strip() == refusals[0]
    assert (inbox / IMPORTED / "b-good.tar.gz").exists()
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["c-copying.tar.gz", "notes.txt"]

    # Once each: the next tick finds nothing settled, and requests nothing again.
    again = _tick(fresh_instance, tick_log)
    assert isinstance(again, SkipReason) and "no settled" in again.skip_message


def test_the_same_bundle_dropped_again_is_a_new_drop_but_unpacks_nothing_new(inbox, bundle, fresh_instance, tick_log):
    path, manifest = bundle
    _drop(inbox / "day.tar.gz", source=path)
    first = _tick(fresh_instance, tick_log).run_requests[0]
    _drop(inbox / "day.tar.gz", source=path, age_s=60)
    second = _tick(fresh_instance, tick_log).run_requests[0]
    assert first.run_key != second.run_key  # a later drop is a new request; the importer skips what the lake holds
    assert any("already unpacked" in line for line in tick_log.lines)
    assert sorted(p.name for p in (inbox / IMPORTED).iterdir())[-1].endswith("day.tar.gz")
    assert len(list((inbox / IMPORTED).iterdir())) == 2


def test_a_bundle_outside_the_universe_is_refused_with_the_setting_to_change(inbox, bundle, fresh_instance, monkeypatch, tick_log):
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", "BTC-USDT")
    _drop(inbox / "day.tar.gz", source=bundle[0])
    result = _tick(fresh_instance, tick_log)
    assert isinstance(result, SkipReason) and "QUANT_ASSETS_SYMBOLS" in result.skip_message
    assert (inbox / REFUSED / "day.tar.gz").exists()


def test_a_new_day_in_the_inbox_flows_into_the_lake_and_on_to_its_children(inbox, bundle, fresh_instance):
    """The done-when drill, in process: the daemon's sensor tick, the run it requests, then
    the automation daemon's ticks (all on one instance, at fixed evaluation times)."""
    defs = definitions()
    before = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 8, 0, 20))
    assert before.total_requested == 0

    _drop(inbox / "day.tar.gz", source=bundle[0])
    (request,) = _tick(fresh_instance).run_requests
    run = defs.get_job_def(IMPORT_JOB).execute_in_process(run_config=request.run_config, instance=fresh_instance, tags=request.tags)
    assert run.success
    lake = ParquetLake(settings.home().lake)
    assert all(lake.exists("market_bars", part) for part in PARTS)  # published: the checks passed
    bars = fresh_instance.get_latest_materialization_event(AssetKey("market_bars"))
    assert fresh_instance.get_run_by_id(bars.run_id).tags[BUNDLE_ID_TAG] == bundle[1].bundle_id  # provenance

    tick = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 8, 0, 21), cursor=before.cursor)
    btc_eth = ["BTC-USDT", "ETH-USDT"]
    # labels of every day whose 7-day look-ahead holds the new bars (from the first day on)
    assert requested(tick, "labels") == keys(date(2025, 10, 1), date(2025, 10, 7), btc_eth)
    # features of 10-07 (bars of 10-06..07); 10-06 lacks the bars of 10-05, 10-08 today's
    assert requested(tick, "feature_matrix") == keys(date(2025, 10, 7), date(2025, 10, 7), btc_eth)
    # no model serves these days yet (no fit window of history): the evaluations wait
    assert not requested(tick, "oos_eval") and not requested(tick, "multi_horizon_model")

    # The labels run the daemon would launch, for real: the new day's bars fill them in.
    labels = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=fresh_instance,
        asset_selection=[AssetKey("labels")],
        tags=PartitionRange(DaySymbol(date(2025, 10, 6), "BTC-USDT"), DaySymbol(date(2025, 10, 7), "ETH-USDT")).tags,
    )
    assert labels.success
    day = lake.read("labels", DaySymbol(date(2025, 10, 6), "BTC-USDT"))
    assert day.height > 0 and day["fwd_ret_1h"].drop_nulls().len() > 0
    settled = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 8, 0, 22), cursor=tick.cursor)
    assert not requested(settled, "labels")  # done once; nothing fires again
