"""The feature computation on real data: grid, as-of semantics, flags, independence."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest
from dagster import MultiPartitionsDefinition

from quant_assets.features import contract
from quant_assets.features.audit import asof_input_violations, asof_violations, missing_policy_violations
from quant_assets.features.compute import derivative_features, features_for_partitions, partition_inputs
from quant_assets.features.inputs import SERIES, UPSTREAM, Inputs, all_mapped_days, mapped_parts
from quant_assets.partitions import DaySymbol, daily_symbol_partitions
from quant_assets_tests.features import realdata

UTC = timezone.utc
FIRST = realdata.OCT[0]


@pytest.fixture(scope="module")
def inputs() -> Inputs:
    return Inputs(realdata.bars(), realdata.derivatives(), realdata.latents())


def run(inputs, parts, now=None, first_day=FIRST, drop=()):
    days = {p: {a: ([] if a in drop else d) for a, d in all_mapped_days(p.day, first_day).items()} for p in parts}
    return features_for_partitions(inputs, parts, days, now=now)


def test_one_row_per_decision_time_in_contract_order(inputs):
    part = DaySymbol(date(2025, 10, 7), "BTC-USDT")
    out = run(inputs, [part])
    assert out.columns == ["partition", *contract.COLUMN_NAMES]
    assert out.height == 288
    assert out["t"][0] == datetime(2025, 10, 7, 0, 5, tzinfo=UTC)
    assert out["t"][-1] == datetime(2025, 10, 8, 0, 0, tzinfo=UTC)
    frame = out.select(contract.COLUMN_NAMES)
    assert contract.schema_problems(frame.schema) == []


def test_a_row_uses_the_bar_that_closes_at_t_and_nothing_later(inputs):
    part = DaySymbol(date(2025, 10, 7), "ETH-USDT")
    out = run(inputs, [part])
    bars = realdata.bars(["ETH-USDT"])
    close = dict(zip(bars["available_at"].to_list(), bars["close"].to_list()))
    for row in out.select("t", "ret_5m", "ret_1h", "asof_bars").iter_rows(named=True):
        t = row["t"]
        assert row["asof_bars"] == t
        assert row["ret_5m"] == pytest.approx(math.log(close[t] / close[t - timedelta(minutes=5)]), rel=1e-12)
        assert row["ret_1h"] == pytest.approx(math.log(close[t] / close[t - timedelta(hours=1)]), rel=1e-12)


def test_first_day_has_no_history_and_says_so(inputs):
    out = run(inputs, [DaySymbol(FIRST, "BTC-USDT")])
    assert out["bars_1d_missing"].all() and out["ret_1d"].is_null().all()
    # the 24h text window ending at D+1 00:00 lies wholly inside the day: complete
    assert out["text_24h_missing"].to_list() == [True] * 287 + [False]
    assert out["bars_5m_missing"].to_list() == [True] + [False] * 287
    assert not missing_policy_violations(out)


def test_clean_output_obeys_the_policies(inputs):
    parts = [DaySymbol(d, s) for d in (FIRST, date(2025, 10, 6), date(2025, 10, 7), date(2025, 10, 8)) for s in realdata.SYMBOLS]
    out = run(inputs, parts)
    assert not missing_policy_violations(out)
    assert not asof_violations(out)
    # every row's stamps and one-record values are the newest records its inputs held at t
    days = {p: all_mapped_days(p.day, FIRST) for p in parts}
    assert not asof_input_violations(out, partition_inputs(inputs, parts, days))
    # real values where the data has them
    full = out.filter(pl.col("partition") == "2025-10-07|BTC-USDT")
    for name in ("ret_1d", "rv_1d", "volz_1d", "rsi_4h", "funding_rate", "basis_bps", "text_post_count_24h"):
        assert full[name].null_count() == 0, name
    # the 2025 source has no open interest, long/short or taker data: flagged, never filled
    assert full["oi_1h_missing"].all() and full["long_short_missing"].all() and full["taker_missing"].all()


def test_a_partition_does_not_depend_on_its_run(inputs):
    part = DaySymbol(date(2025, 10, 7), "BTC-USDT")
    alone = run(inputs, [part]).drop("partition")
    many = [DaySymbol(d, s) for d in (date(2025, 10, 6), date(2025, 10, 7), date(2025, 10, 8)) for s in realdata.SYMBOLS]
    together = run(inputs, many).filter(pl.col("partition") == str(part)).drop("partition")
    assert alone.equals(together)


def test_absent_source_becomes_flags_not_fills(inputs):
    out = run(inputs, [DaySymbol(date(2025, 10, 7), "ETH-USDT")], drop=("derivatives", "text_latents"))
    for source in ("derivatives", "text"):
        assert out.select(contract.FEATURES_BY_SOURCE[source]).null_count().row(0) == (288,) * len(contract.FEATURES_BY_SOURCE[source])
        assert out.select(contract.FLAGS_BY_SOURCE[source]).min().row(0) == (True,) * len(contract.FLAGS_BY_SOURCE[source])
        assert out[contract.ASOF_COLUMNS[source]].is_null().all()
    assert not missing_policy_violations(out)


def test_today_stops_at_now(inputs):
    now = datetime(2025, 10, 7, 12, 2, tzinfo=UTC)
    out = run(inputs, [DaySymbol(date(2025, 10, 7), "BTC-USDT")], now=now)
    assert out["t"].max() == datetime(2025, 10, 7, 12, 0, tzinfo=UTC) and out.height == 144


def test_funding_is_as_of_available_at_and_ages_out(inputs):
    part = DaySymbol(date(2025, 10, 7), "BTC-USDT")
    out = run(inputs, [part])
    funding = realdata.derivatives(["BTC-USDT"]).filter(pl.col("metric") == "funding_rate")
    stamps = funding["available_at"].to_list()
    for row in out.select("t", "funding_rate", "funding_age_h").iter_rows(named=True):
        latest = max(s for s in stamps if s <= row["t"])
        value = funding.filter(pl.col("available_at") == latest)["value"][0]
        assert row["funding_rate"] == value
        assert row["funding_age_h"] == pytest.approx((row["t"] - latest).total_seconds() / 3600)
    # drop the funding of the day: older than 8h is missing, not carried forward, until the
    # funding known at the day's last decision time (D+1 00:00)
    sparse = realdata.derivatives().filter(~((pl.col("metric") == "funding_rate") & (pl.col("event_time").dt.date() == part.day)))
    out = run(Inputs(realdata.bars(), sparse, realdata.latents()), [part])
    assert out.filter(pl.col("t") > datetime(2025, 10, 7, 0, 0, tzinfo=UTC))["funding_missing"].to_list() == [True] * 287 + [False]


def test_funding_known_at_midnight_is_used_by_the_last_row_of_the_day(inputs):
    """t = D+1 00:00 is day D's last decision time; the funding stamped then is in day D+1's
    partition, which the mapping gives day D (cut at t), so that row sees it at age 0."""
    part = DaySymbol(date(2025, 10, 7), "BTC-USDT")
    assert all_mapped_days(part.day)["derivatives"] == [date(2025, 10, 6), part.day, date(2025, 10, 8)]
    midnight = datetime(2025, 10, 8, tzinfo=UTC)
    funding = realdata.derivatives(["BTC-USDT"]).filter(pl.col("metric") == "funding_rate")
    at_midnight = funding.filter(pl.col("available_at") == midnight)["value"].item()
    before = funding.filter(pl.col("available_at") == midnight - timedelta(hours=8))["value"].item()
    assert at_midnight != before
    last = run(inputs, [part]).row(-1, named=True)
    assert (last["t"], last["funding_rate"], last["funding_age_h"]) == (midnight, at_midnight, 0.0)
    # day D+1's later records (the 08:00 funding, the 00:00 mark hour) are not read at all
    later = funding.filter(pl.col("available_at") > midnight)["value"].to_list()
    assert last["asof_derivatives"] == midnight and last["funding_rate"] not in later


def test_open_interest_long_short_and_taker_on_real_sol_data():
    rows = realdata.sol_oi_derivatives().with_columns(pl.lit("s").alias(SERIES))
    times = pl.DataFrame({SERIES: ["s"] * 3, "t": [datetime(2026, 6, 1, h, 5, tzinfo=UTC) for h in (10, 11, 12)]}).with_columns(
        pl.col("t").cast(contract.COLUMNS["t"])
    )
    out = derivative_features(rows, times)
    raw = realdata._read("sol_oi_lsr_taker_1h.parquet")
    at = {ts: r for ts, *r in raw.select("ts", "oi_value_usd", "global_long_short_account_ratio", "taker_buy_vol", "taker_sell_vol").iter_rows()}
    for row in out.iter_rows(named=True):
        hour = row["t"].replace(minute=0) - timedelta(hours=1)  # the hour that closed at or before t
        oi, lsr, buy, sell = at[hour]
        assert row["oi_change_1h"] == pytest.approx(oi / at[hour - timedelta(hours=1)][0] - 1, rel=1e-12)
        assert row["oi_change_4h"] == pytest.approx(oi / at[hour - timedelta(hours=4)][0] - 1, rel=1e-12)
        assert row["long_short_ratio"] == lsr
        assert row["taker_imbalance_1h"] == pytest.approx((buy - sell) / (buy + sell), rel=1e-12)
        assert row["asof_derivatives"] == hour + timedelta(hours=1)
    # an hourly slot the source lacks: the features that need it are missing and flagged
    lacking = (pl.col("metric") == "open_interest_usd") & (pl.col("event_time") == datetime(2026, 6, 1, 10, tzinfo=UTC))
    gap = rows.with_columns(
        value=pl.when(lacking).then(None).otherwise(pl.col("value")),
    ).with_columns(is_missing=pl.col("value").is_null())  # fmt: skip
    out = derivative_features(gap, times)
    # 10:05 uses hour 09:00; 11:05 would use 10:00 (lacking; 09:00 is over 1h old);
    # 12:05 uses 11:00, whose 1h change needs 10:00 but whose 4h change needs 07:00
    assert out["oi_1h_missing"].to_list() == [False, True, True]
    assert out["oi_4h_missing"].to_list() == [False, True, False]
    assert out["long_short_missing"].to_list() == [False, False, False]


def test_dagster_mapping_is_the_lookback_rule():
    from quant_assets.assets.features import lookback_mapping

    parts_def = daily_symbol_partitions()
    parts = [DaySymbol(date(2025, 10, d), s) for d in (1, 2, 7) for s in ("BTC-USDT", "SOL-USDT")]
    subset = parts_def.empty_subset().with_partition_keys([p.dagster_key for p in parts])
    first = date.fromisoformat(parts_def.get_partitions_def_for_dimension("date").start.strftime("%Y-%m-%d"))
    assert isinstance(parts_def, MultiPartitionsDefinition)
    for asset in UPSTREAM:
        result = lookback_mapping(asset).get_upstream_mapped_partitions_result_for_partitions(subset, parts_def, parts_def)
        upstream = sorted(DaySymbol.parse(k) for k in result.partitions_subset.get_partition_keys())
        assert upstream == mapped_parts(parts, asset, first), asset
    # derivatives reach one day ahead (a funding at D+1 00:00), the others do not
    assert DaySymbol(date(2025, 10, 8), "BTC-USDT") in mapped_parts(parts, "derivatives", first)
    assert DaySymbol(date(2025, 10, 8), "BTC-USDT") not in mapped_parts(parts, "market_bars", first)
