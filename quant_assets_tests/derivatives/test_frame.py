"""Pure derivatives transforms: missing-slot grid, basis, partition split, coverage, rules."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.catalog import schema_for
from quant_assets.derivatives import quality
from quant_assets.derivatives.frame import (
    BASIS,
    DERIVATIVES_ASSET,
    DERIVATIVES_SCHEMA,
    FUNDING,
    HOURLY_METRICS,
    MARK,
    OPEN_INTEREST,
    assemble,
    coverage,
    empty_observations,
    expected_slots,
    observations,
    split_partitions,
    with_basis,
)
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.resources.derivatives_data import BundleDerivatives, FileDropDerivatives
from quant_assets_tests.derivatives.binance_fixtures import DERIV_FIXTURES, at, days, spot_bars

DAY = DaySymbol(date(2025, 10, 6), "BTC-USDT")


def _ms(*args) -> int:
    return int(at(*args).timestamp() * 1000)


def test_expected_slots_are_the_closed_hours_of_each_partition():
    assert expected_slots([DAY], at(2025, 10, 9)).height == 24
    # At 10:30 the hours opened 00:00..09:00 have closed; 10:00 has not.
    today = expected_slots([DAY], at(2025, 10, 6, 10, 30))["event_time"].to_list()
    assert today == [at(2025, 10, 6, h) for h in range(10)]
    assert expected_slots([DAY], at(2025, 10, 6, 0, 59)).is_empty()
    assert expected_slots([DAY], at(2025, 10, 5)).is_empty()


def test_every_closed_hour_has_a_row_flagged_when_the_source_has_none():
    obs = pl.concat(
        [
            observations("BTC-USDT", MARK, [_ms(2025, 10, 6, 0), _ms(2025, 10, 6, 2)], [100.0, float("nan")], "t"),
            observations("BTC-USDT", FUNDING, [_ms(2025, 10, 6, 0), _ms(2025, 10, 6, 8)], [1e-4, None], "t"),
        ]
    )
    frame = assemble(obs, [DAY], at(2025, 10, 6, 3, 10), source="t")
    marks = frame.filter(pl.col("metric") == MARK)
    assert marks["event_time"].to_list() == [at(2025, 10, 6, h) for h in range(3)]
    assert marks["is_missing"].to_list() == [False, True, True]  # 01:00 absent, 02:00 NaN
    assert marks["value"].to_list() == [100.0, None, None]
    # Every hourly metric has the same three slots; none is filled with a number.
    assert frame.filter(pl.col("metric").is_in(HOURLY_METRICS)).group_by("metric").len()["len"].to_list() == [3] * 6
    assert frame.filter(pl.col("metric") == OPEN_INTEREST)["value"].null_count() == 3
    # Funding has no grid: the event without a value is dropped, never a "missing" row.
    funding = frame.filter(pl.col("metric") == FUNDING)
    assert funding["event_time"].to_list() == [at(2025, 10, 6, 0)] and not funding["is_missing"].any()
    assert frame.columns == ["symbol", *DERIVATIVES_SCHEMA]
    assert frame.sort("symbol", "metric", "event_time").equals(frame)


def test_basis_uses_the_spot_bar_closing_with_the_mark_hour_and_is_missing_without_it():
    spot = spot_bars().filter(pl.col("symbol") == "BTC-USDT")
    spot_1055 = spot.filter(pl.col("ts") == at(2025, 10, 6, 10, 55))["close"].item()
    mark = observations("BTC-USDT", MARK, [_ms(2025, 10, 6, 10), _ms(2025, 10, 6, 11)], [124000.0, 125000.0], "m")
    without_1155 = spot.filter(pl.col("ts") != at(2025, 10, 6, 11, 55))
    frame = assemble(with_basis(mark, without_1155), [DAY], at(2025, 10, 7), source="m")
    basis = frame.filter(pl.col("metric") == BASIS, pl.col("event_time").dt.hour().is_in([10, 11]))
    assert basis["value"].to_list()[0] == pytest.approx((124000.0 / spot_1055 - 1) * 1e4)
    assert basis["is_missing"].to_list() == [False, True]
    assert basis["available_at"].to_list() == [at(2025, 10, 6, 11), at(2025, 10, 6, 12)]
    assert basis["source"][0] == "m+spot:binance-spot"


def test_split_gives_every_partition_its_own_sorted_rows_by_event_day():
    parts = days(["BTC-USDT", "ETH-USDT"], date(2025, 10, 5), date(2025, 10, 7))
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch(parts, at(2025, 10, 9), spot_bars())
    split = split_partitions(frame, parts)
    assert [p for p, _ in split] == parts
    for part, rows in split:
        assert rows.columns == list(DERIVATIVES_SCHEMA)
        assert (rows["event_time"].dt.date() == part.day).all()
        assert rows.sort("metric", "event_time").equals(rows)
        assert rows.height == 3 + 24 * 6  # three funding events, 24 slots of six hourly metrics
    nothing = split_partitions(frame, [DaySymbol(date(2025, 10, 1), "BTC-USDT")])
    assert nothing[0][1].is_empty() and nothing[0][1].columns == list(DERIVATIVES_SCHEMA)


def test_coverage_counts_slots_with_data_and_funding_events():
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch([DAY], at(2025, 10, 6, 12, 30), spot_bars())
    facts = coverage(frame.drop("symbol"), DAY, at(2025, 10, 6, 12, 30))
    assert facts["expected_hourly_slots"] == 12
    assert facts["coverage_mark_close"] == 1.0 and facts["coverage_basis_bps"] == 1.0
    assert facts["coverage_open_interest_usd"] == 0.0 and facts["missing_open_interest_usd"] == 12
    assert facts["funding_events"] == 2 and facts["funding_interval_hours"] == 8.0
    assert coverage(frame.drop("symbol").head(0), DAY, at(2025, 10, 6, 0, 30))["coverage_mark_close"] is None


def test_registry_knows_the_derivatives_schema_and_key():
    schema = schema_for(DERIVATIVES_ASSET)
    assert schema.key == ("metric", "event_time")
    assert schema.problems(pl.Schema(DERIVATIVES_SCHEMA)) == []
    assert schema.problems(pl.Schema({**DERIVATIVES_SCHEMA, "value": pl.Float32()})) == ["column value is Float32, expected Float64"]


# ---- quality rules: clean data passes, each planted fault is named --------------------------


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    parts = days(["BTC-USDT", "SOL-USDT"], date(2025, 10, 5), date(2025, 10, 7))
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch(parts, at(2025, 10, 9), spot_bars())
    return frame


AT = pl.col("event_time") == at(2025, 10, 6, 8)
BTC = pl.col("symbol") == "BTC-USDT"
IS = lambda metric: BTC & AT & (pl.col("metric") == metric)  # noqa: E731

PLANTED = {
    "duplicate": (quality.duplicate_rows, lambda f: pl.concat([f, f.filter(IS(FUNDING))])),
    "unsorted": (quality.unsorted_rows, lambda f: pl.concat([f.filter(IS(MARK)), f.filter(~IS(MARK))])),
    "early_available_at": (
        quality.wrong_availability,
        lambda f: f.with_columns(available_at=pl.when(IS(MARK)).then(pl.col("event_time")).otherwise(pl.col("available_at"))),
    ),
    "available_before_event": (
        quality.wrong_availability,
        lambda f: f.with_columns(
            available_at=pl.when(IS(FUNDING)).then(pl.col("event_time") - timedelta(minutes=5)).otherwise(pl.col("available_at"))
        ),
    ),
    "off_the_hour": (
        quality.wrong_availability,
        lambda f: f.with_columns(event_time=pl.when(IS(MARK)).then(pl.col("event_time") + timedelta(minutes=5)).otherwise(pl.col("event_time"))),
    ),
    "infinite": (quality.bad_values, lambda f: f.with_columns(value=pl.when(IS(BASIS)).then(float("inf")).otherwise(pl.col("value")))),
    "nan": (quality.bad_values, lambda f: f.with_columns(value=pl.when(IS(MARK)).then(float("nan")).otherwise(pl.col("value")))),
    "zero_filled": (quality.bad_values, lambda f: f.with_columns(value=pl.when(IS(OPEN_INTEREST)).then(0.0).otherwise(pl.col("value")))),
    "funding_percent": (
        quality.insane_funding,
        lambda f: f.with_columns(value=pl.when(IS(FUNDING)).then(pl.col("value") * 1000).otherwise(pl.col("value"))),
    ),
    "unknown_metric": (
        quality.unknown_metrics,
        lambda f: f.with_columns(metric=pl.when(IS(FUNDING)).then(pl.lit("funding")).otherwise(pl.col("metric"))),
    ),
}


def test_every_rule_passes_clean_data(clean):
    for rule, _ in PLANTED.values():
        assert rule(clean).is_empty(), rule.__name__


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_every_rule_names_its_planted_fault(clean, planted):
    rule, plant = PLANTED[planted]
    offending = rule(plant(clean))
    assert offending.height >= 1
    assert offending.columns == ["symbol", "metric", "event_time", "problem"]
    assert (offending["symbol"] == "BTC-USDT").all()


# ---- bundle source ---------------------------------------------------------------------------


def _unpack_bundle(root, frame: pl.DataFrame, parts: list[DaySymbol]) -> None:
    """An unpacked bundle as ``bundle import`` leaves it (manifest + LANDED marker + lake)."""
    lake = ParquetLake(str(root / "b1" / "lake"))
    files = []
    for part, rows in split_partitions(frame, parts):
        write = lake.write(DERIVATIVES_ASSET, part, rows)
        files.append({"asset": DERIVATIVES_ASSET, "date": part.day.isoformat(), "symbol": part.symbol, "sha256": write.sha256, "rows": write.rows})
    (root / "b1" / "bundle_manifest.json").write_text(json.dumps({"bundle_id": "sample-b1", "files": files}))
    (root / "b1" / "LANDED.json").write_text(json.dumps({"bundle_sha256": "f" * 64, "landed_at": "2025-10-06T12:00:00+00:00"}))


def test_bundle_source_serves_unpacked_rows_and_flags_hours_closed_since_export(tmp_path):
    exported_at = at(2025, 10, 6, 12, 5)
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch([DAY], exported_at, spot_bars())
    _unpack_bundle(tmp_path, frame, [DAY])
    source = BundleDerivatives(bundles_root=str(tmp_path))

    same, meta = source.fetch([DAY], exported_at, spot_bars())
    assert same.equals(frame)
    assert meta[DAY] == {"source": "bundle", "bundle_id": "sample-b1", "bundle_sha256": "f" * 64}

    later, _ = source.fetch([DAY], at(2025, 10, 6, 14, 0), spot_bars())
    marks = later.filter(pl.col("metric") == MARK)
    assert marks["event_time"].to_list() == [at(2025, 10, 6, h) for h in range(14)]
    assert marks.filter(pl.col("is_missing"))["event_time"].to_list() == [at(2025, 10, 6, 12), at(2025, 10, 6, 13)]
    assert marks.filter(pl.col("is_missing"))["source"].unique().to_list() == ["bundle"]

    earlier, _ = source.fetch([DAY], at(2025, 10, 6, 9), spot_bars())
    assert (earlier["available_at"] <= at(2025, 10, 6, 9)).all()

    with pytest.raises(FileNotFoundError, match="no imported bundle holds derivatives"):
        source.fetch([DaySymbol(date(2025, 10, 7), "BTC-USDT")], exported_at, spot_bars())


def test_empty_observations_assemble_to_missing_rows_only():
    frame = assemble(empty_observations(), [DAY], at(2025, 10, 7), source="none")
    assert frame.height == 24 * len(HOURLY_METRICS) and frame["is_missing"].all()
