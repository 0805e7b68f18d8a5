"""labels on real bars: values, availability, missing until the horizon passes, and planted faults caught."""

import math
import shutil
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from dagster import AssetKey

from quant_assets.labels import forward
from quant_assets.labels.costs import COST_ENV, cost_from_env, default_cost
from quant_assets.labels.forward import LABELS_ASSET, available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZONS, embargo
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets_tests import fitted_models

UTC = timezone.utc
DAY = DaySymbol(date(2025, 10, 3), "BTC-USDT")


@pytest.fixture
def home(tmp_path, monkeypatch, seed_cache):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    fitted_models.copy_lake(fitted_models.seeded_lake(seed_cache, date(2025, 10, 1), date(2025, 10, 14)), home)
    return home


def test_labels_are_forward_log_returns_known_at_t_plus_h(home):
    store = ParquetLake(str(home / "lake"))
    bars = store.read_many(BARS_ASSET, [DaySymbol(date(2025, 10, d), "BTC-USDT") for d in range(3, 12)])
    close_at = dict(zip(bars["available_at"].to_list(), bars["close"].to_list()))
    cost = cost_from_env()
    frame = forward.forward_labels(bars, [DAY], cost.log_cost)
    assert frame.height == 288 and frame["t"][0] == datetime(2025, 10, 3, 0, 5, tzinfo=UTC)
    row = frame.filter(pl.col("t") == datetime(2025, 10, 3, 12, 0, tzinfo=UTC)).row(0, named=True)
    for h, span in HORIZONS.items():
        t = row["t"]
        assert row[gross_column(h)] == pytest.approx(math.log(close_at[t + span] / close_at[t]), abs=1e-15)
        assert row[net_column(h)] == pytest.approx(row[gross_column(h)] + math.log1p(-cost.fraction), abs=1e-15)
        assert row[available_column(h)] == t + span
        assert not row[missing_column(h)]


def test_a_label_whose_bar_has_not_closed_is_missing_not_filled(home):
    store = ParquetLake(str(home / "lake"))
    # bars only up to 10-05: the 7d label of every row of 10-03 needs 10-10, so all are missing
    bars = store.read_many(BARS_ASSET, [DaySymbol(date(2025, 10, d), "BTC-USDT") for d in range(3, 6)])
    frame = forward.forward_labels(bars, [DAY], 0.0)
    assert frame[missing_column("7d")].all() and frame[gross_column("7d")].null_count() == 288
    assert frame[available_column("7d")].null_count() == 288
    assert not frame[missing_column("1h")].any()


def test_round_trip_cost_defaults_and_setting(monkeypatch):
    assert default_cost("spot").bps == 22.0 and default_cost("swap").bps == 12.0
    monkeypatch.setenv(COST_ENV, "15")
    assert cost_from_env().bps == 15.0
    monkeypatch.setenv(COST_ENV, "cheap")
    with pytest.raises(ValueError, match=COST_ENV):
        cost_from_env()


def test_embargo_is_the_longest_horizon_plus_one_bar():
    assert embargo() == timedelta(days=7, minutes=5)


def test_labels_asset_fills_in_as_the_horizon_passes(tmp_path, monkeypatch, seed_cache, fresh_instance):
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    seed = fitted_models.seeded_lake(seed_cache, date(2025, 10, 1), date(2025, 10, 14))
    lake = home / "lake"
    lake.mkdir(parents=True)
    # at first the lake has bars up to 10-06 only
    for d in range(1, 7):
        src = seed / BARS_ASSET / f"date=2025-10-0{d}"
        (lake / BARS_ASSET).mkdir(exist_ok=True)
        shutil.copytree(src, lake / BARS_ASSET / src.name)
    defs = fitted_models.definitions(home)
    first = fitted_models.run(defs, [LABELS_ASSET], date(2025, 10, 2), date(2025, 10, 3), fresh_instance)
    assert all(r.success for r in first)
    checks = fitted_models.checks_of(first)
    assert checks["labels_recompute"].passed and checks["labels_available_at"].passed
    meta = _partition_metadata(fresh_instance, DAY)
    assert meta["complete"] is False and "7d" in meta["pending_horizons"]
    # the horizon passes: later bars arrive, and a new materialization fills the labels
    for d in range(7, 12):
        src = seed / BARS_ASSET / f"date=2025-10-{d:02d}"
        shutil.copytree(src, lake / BARS_ASSET / src.name)
    again = fitted_models.run(defs, [LABELS_ASSET], date(2025, 10, 3), date(2025, 10, 3), fresh_instance)
    assert all(r.success for r in again) and fitted_models.checks_of(again)["labels_recompute"].passed
    meta = _partition_metadata(fresh_instance, DAY)
    assert meta["complete"] is True and meta["coverage_7d"] == 1.0


def _partition_metadata(instance, part):
    records = instance.fetch_materializations(AssetKey(LABELS_ASSET), limit=100).records
    for record in records:
        mat = record.asset_materialization
        if mat.partition == str(part.dagster_key):
            return {k: v.value for k, v in mat.metadata.items()}
    raise AssertionError(f"no materialization of {part}")


def _peek_one_bar_further(bars, parts, log_cost, now=None):
    # the bug: the label reads the close one bar after t + h
    shifted = bars.with_columns(pl.col("available_at") - timedelta(minutes=5))
    return _real_forward_labels(shifted, parts, log_cost, now)


def _stamped_at_t(bars, parts, log_cost, now=None):
    # the bug: each label claims to be known at t, the decision time itself
    frame = _real_forward_labels(bars, parts, log_cost, now)
    return frame.with_columns([pl.when(pl.col(available_column(h)).is_not_null()).then(pl.col("t")).alias(available_column(h)) for h in HORIZONS])


_real_forward_labels = forward.forward_labels


@pytest.mark.parametrize(
    "fault, caught_by",
    [(_peek_one_bar_further, "labels_recompute"), (_stamped_at_t, "labels_available_at")],
    ids=["label-reads-a-later-bar", "label-stamped-known-at-t"],
)
def test_planted_label_faults_are_caught(fault, caught_by, home, monkeypatch, fresh_instance):
    monkeypatch.setattr(forward, "forward_labels", fault)
    results = fitted_models.run(fitted_models.definitions(home), [LABELS_ASSET], date(2025, 10, 3), date(2025, 10, 4), fresh_instance)
    checks = fitted_models.checks_of(results, fresh_instance)
    assert not checks[caught_by].passed, checks[caught_by].description
    # never published: a model fitted later cannot train on these labels
    fitted_models.assert_quarantined(home / "lake", LABELS_ASSET, fitted_models.parts(date(2025, 10, 3), date(2025, 10, 4)), caught_by)
