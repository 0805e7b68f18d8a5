"""FileDropDerivatives over the real slices in fixtures/derivatives (../shared/data layout)."""

from __future__ import annotations

import shutil
from datetime import date

import polars as pl
import pytest

from quant_assets.derivatives.frame import (
    FUNDING,
    LONG_SHORT,
    MARK,
    OPEN_INTEREST,
    STAT_METRICS,
    TAKER_BUY,
    TAKER_SELL,
    coverage,
    split_partitions,
)
from quant_assets.resources.derivatives_data import FileDropDerivatives
from quant_assets_tests.derivatives.binance_fixtures import DERIV_FIXTURES, at, days, spot_bars

LATER = at(2026, 7, 1)


def _fetch(parts, now=LATER, **config):
    return FileDropDerivatives(folder=str(DERIV_FIXTURES), **config).fetch(parts, now, spot_bars())


def _real(name: str) -> pl.DataFrame:
    return pl.read_parquet(DERIV_FIXTURES / name)


def test_funding_and_mark_are_the_real_figures_with_their_stamps():
    parts = days(["BTC-USDT", "ETH-USDT", "SOL-USDT"], date(2025, 10, 5), date(2025, 10, 7))
    frame, meta = _fetch(parts)
    real_funding = _real("binance_usdm_funding_rate.parquet").filter(~pl.col("symbol").str.starts_with("WLFI"))
    got = frame.filter(pl.col("metric") == FUNDING).select(pl.col("symbol").str.replace("-USDT", "/USDT:USDT"), ts="event_time", funding_rate="value")
    assert got.sort("symbol", "ts").equals(real_funding.sort("symbol", "ts"))
    real_mark = _real("binance_usdm_mark_1h.parquet").filter(~pl.col("symbol").str.starts_with("WLFI"))
    got = frame.filter(pl.col("metric") == MARK).select(pl.col("symbol").str.replace("-USDT", "/USDT:USDT"), ts="event_time", close="value")
    assert got.sort("symbol", "ts").equals(real_mark.select("symbol", "ts", "close").sort("symbol", "ts"))
    assert (
        frame.filter(pl.col("metric") == FUNDING, pl.col("symbol") == "BTC-USDT", pl.col("event_time") == at(2025, 10, 6, 8))["value"].item()
        == 9.708e-05
    )
    assert set(frame["source"].unique()) == {"file:binance-usdm", "file:binance-usdm+spot:binance-spot"}
    assert meta[parts[0]]["source"] == "file:binance-usdm"


def test_statistics_absent_for_october_are_missing_rows_with_coverage_zero():
    """The shipped statistics cover SOL in 2026-05/06 only: October is honestly empty."""
    parts = days(["BTC-USDT", "SOL-USDT"], date(2025, 10, 6), date(2025, 10, 6))
    frame, _ = _fetch(parts)
    for part, rows in split_partitions(frame, parts):
        stats = rows.filter(pl.col("metric").is_in(STAT_METRICS))
        assert stats.height == 24 * 4 and stats["is_missing"].all() and stats["value"].null_count() == stats.height
        facts = coverage(rows, part, LATER)
        assert [facts[f"coverage_{m}"] for m in STAT_METRICS] == [0.0] * 4
        assert facts["coverage_mark_close"] == 1.0 and facts["coverage_basis_bps"] == 1.0


def test_sol_statistics_are_the_real_figures_and_the_first_day_is_partly_missing():
    parts = days(["SOL-USDT"], date(2026, 5, 31), date(2026, 6, 3))
    frame, _ = _fetch(parts)
    real = _real("binance_solusdt_perp_oi_lsr_taker_1h.parquet")
    columns = {OPEN_INTEREST: "oi_value_usd", LONG_SHORT: "global_long_short_account_ratio", TAKER_BUY: "taker_buy_vol", TAKER_SELL: "taker_sell_vol"}
    for metric, column in columns.items():
        got = frame.filter(pl.col("metric") == metric, ~pl.col("is_missing")).select(ts="event_time", value="value")
        assert got.equals(real.select("ts", value=column)), metric
    facts = {part.day: coverage(rows, part, LATER) for part, rows in split_partitions(frame, parts)}
    # The pull starts at 15:00 on May 31: 9 of 24 hours hold statistics, the rest are flagged.
    assert facts[date(2026, 5, 31)]["coverage_open_interest_usd"] == pytest.approx(9 / 24)
    assert facts[date(2026, 5, 31)]["missing_taker_buy_volume"] == 15
    assert all(facts[date(2026, 6, d)]["coverage_long_short_ratio"] == 1.0 for d in (1, 2, 3))
    # No funding or mark was downloaded for 2026: mark and basis are missing too, funding absent.
    assert facts[date(2026, 6, 1)]["coverage_mark_close"] == 0.0 and facts[date(2026, 6, 1)]["funding_events"] == 0


def test_funding_interval_follows_the_pair():
    parts = days(["BTC-USDT", "WLFI-USDT"], date(2025, 10, 6), date(2025, 10, 6))
    frame, _ = _fetch(parts)
    facts = {part.symbol: coverage(rows, part, LATER) for part, rows in split_partitions(frame, parts)}
    assert (facts["BTC-USDT"]["funding_events"], facts["BTC-USDT"]["funding_interval_hours"]) == (3, 8.0)
    assert (facts["WLFI-USDT"]["funding_events"], facts["WLFI-USDT"]["funding_interval_hours"]) == (6, 4.0)


def test_a_file_not_provided_leaves_its_metrics_missing_and_says_so():
    parts = days(["SOL-USDT"], date(2026, 6, 1), date(2026, 6, 1))
    frame, meta = _fetch(parts, stats_file="")
    assert frame.filter(pl.col("metric").is_in(STAT_METRICS))["is_missing"].all()
    assert meta[parts[0]]["not_provided"] == ", ".join(STAT_METRICS)


def test_a_configured_file_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="binance_usdm_funding_rate.parquet"):
        FileDropDerivatives(folder=str(tmp_path)).fetch(days(["BTC-USDT"], date(2025, 10, 6), date(2025, 10, 6)), LATER, spot_bars())


def test_a_drop_of_funding_and_mark_only_serves_statistics_as_missing_with_coverage_zero(tmp_path):
    """No OI / long-short / taker download: the drop still works, and says so."""
    for name in ("binance_usdm_funding_rate.parquet", "binance_usdm_mark_1h.parquet"):
        shutil.copy(DERIV_FIXTURES / name, tmp_path / name)
    parts = days(["BTC-USDT", "SOL-USDT"], date(2025, 10, 6), date(2025, 10, 6))
    frame, meta = FileDropDerivatives(folder=str(tmp_path)).fetch(parts, LATER, spot_bars())
    with_stats, _ = _fetch(parts)
    for part, rows in split_partitions(frame, parts):
        facts = coverage(rows, part, LATER)
        assert [facts[f"coverage_{m}"] for m in STAT_METRICS] == [0.0] * 4
        assert facts["coverage_mark_close"] == 1.0 and facts["funding_events"] == 3
        assert meta[part]["not_provided"] == ", ".join(STAT_METRICS)
        assert meta[part]["not_provided_why"] == f"binance_solusdt_perp_oi_lsr_taker_1h.parquet is not in {tmp_path}"
        assert meta[part]["files"] == "binance_usdm_funding_rate.parquet, binance_usdm_mark_1h.parquet"
    # Funding, mark and basis are exactly what the full drop serves.
    core = pl.col("metric").is_in(STAT_METRICS).not_()
    assert frame.filter(core).sort(pl.all()).equals(with_stats.filter(core).sort(pl.all()))


@pytest.mark.parametrize("core", ["binance_usdm_funding_rate.parquet", "binance_usdm_mark_1h.parquet"])
def test_a_missing_funding_or_mark_file_is_still_an_error(tmp_path, core):
    for name in ("binance_usdm_funding_rate.parquet", "binance_usdm_mark_1h.parquet"):
        if name != core:
            shutil.copy(DERIV_FIXTURES / name, tmp_path / name)
    with pytest.raises(FileNotFoundError, match=core):
        FileDropDerivatives(folder=str(tmp_path)).fetch(days(["BTC-USDT"], date(2025, 10, 6), date(2025, 10, 6)), LATER, spot_bars())
