"""When each derivatives record becomes visible, through every source, on real data.

A decision at time ``t`` may use a record only once ``available_at <= t``: a funding rate at
its funding time, a 1h mark close, basis or statistic (stamped at the hour's open) when the
hour closes. Each test reads through the source and the as-of join the feature matrix uses
(``quant_assets.features.compute.latest_available``), so a wrong availability rule anywhere
on the way makes it fail.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.derivatives.frame import (
    BASIS,
    FUNDING,
    LONG_SHORT,
    MARK,
    OPEN_INTEREST,
    TAKER_BUY,
    TAKER_SELL,
)
from quant_assets.features.compute import latest_available
from quant_assets.resources.derivatives_data import FileDropDerivatives
from quant_assets.timegrid import BAR, TS_DTYPE
from quant_assets_tests.derivatives.binance_fixtures import DERIV_FIXTURES, at, binance_derivatives, days, spot_bars

# Real figures (../shared/data, cut into the fixtures).
BTC_FUNDING_0000 = 7.672e-05  # BTC/USDT:USDT 2025-10-06 00:00
BTC_FUNDING_0800 = 9.708e-05  # BTC/USDT:USDT 2025-10-06 08:00
BTC_MARK_1000 = 123928.97511594  # close of the 10:00 mark hour, 2025-10-06
BTC_MARK_0900 = 123916.180697  # rounded; compared approximately
BTC_SPOT_1055 = 123978.0  # close of the BTC/USDT spot bar opened 10:55
SOL_STATS_1000 = {  # SOL/USDT:USDT, hour opened 2026-06-01 10:00
    OPEN_INTEREST: 260256331.0379,
    LONG_SHORT: 3.45,
    TAKER_BUY: 8104749.9464,
    TAKER_SELL: 8824524.023,
}
SOL_STATS_0900 = {OPEN_INTEREST: 2.6101e8, LONG_SHORT: 3.42, TAKER_BUY: 1.2855e7, TAKER_SELL: 1.1859e7}

OCT = days(["BTC-USDT"], date(2025, 10, 6), date(2025, 10, 6))
JUNE = days(["SOL-USDT"], date(2026, 6, 1), date(2026, 6, 1))


def _file_drop(parts, now):
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch(parts, now, spot_bars())
    return frame


def _ccxt(parts, now):
    source, _ = binance_derivatives(now)
    frame, _ = source.fetch(parts, now, spot_bars())
    return frame


SOURCES = {"file_drop": _file_drop, "ccxt": _ccxt}


def asof_value(frame: pl.DataFrame, metric: str, t) -> float | None:
    """The value a decision at ``t`` sees: the production as-of join on one symbol's rows."""
    rows = frame.filter(pl.col("metric") == metric, ~pl.col("is_missing")).select(series=pl.lit("s"), available_at="available_at", value="value")
    times = pl.DataFrame({"series": ["s"], "t": [t]}).with_columns(pl.col("t").cast(TS_DTYPE))
    return latest_available(times, rows)["value"][0]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_funding_rate_is_invisible_one_bar_before_its_funding_time(source):
    frame = SOURCES[source](OCT, at(2025, 10, 9))
    funding_time = at(2025, 10, 6, 8)
    assert asof_value(frame, FUNDING, funding_time - BAR) == BTC_FUNDING_0000
    assert asof_value(frame, FUNDING, funding_time - timedelta(microseconds=1)) == BTC_FUNDING_0000
    assert asof_value(frame, FUNDING, funding_time) == BTC_FUNDING_0800
    row = frame.filter(pl.col("metric") == FUNDING, pl.col("event_time") == funding_time)
    assert row["available_at"].to_list() == [funding_time]


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("metric", sorted(SOL_STATS_1000))
def test_hourly_statistic_is_invisible_until_its_hour_closes(source, metric):
    # ccxt: Binance serves statistics for ~30 days, so "now" is within that of June 1.
    frame = SOURCES[source](JUNE, at(2026, 6, 20))
    stamped = at(2026, 6, 1, 10)
    for before in (at(2026, 6, 1, 10, 55), at(2026, 6, 1, 10, 59, 59), at(2026, 6, 1, 10, 59, 59, 999999)):
        assert asof_value(frame, metric, before) == pytest.approx(SOL_STATS_0900[metric], rel=1e-4), before
    assert asof_value(frame, metric, stamped + timedelta(hours=1)) == SOL_STATS_1000[metric]
    row = frame.filter(pl.col("metric") == metric, pl.col("event_time") == stamped)
    assert row["available_at"].to_list() == [stamped + timedelta(hours=1)]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_mark_and_basis_are_invisible_until_the_mark_hour_closes(source):
    frame = SOURCES[source](OCT, at(2025, 10, 9))
    expected_basis = (BTC_MARK_1000 / BTC_SPOT_1055 - 1) * 1e4
    for before in (at(2025, 10, 6, 10, 55), at(2025, 10, 6, 10, 59, 59)):
        assert asof_value(frame, MARK, before) == pytest.approx(BTC_MARK_0900)
        assert asof_value(frame, BASIS, before) != pytest.approx(expected_basis)
    assert asof_value(frame, MARK, at(2025, 10, 6, 11)) == BTC_MARK_1000
    assert asof_value(frame, BASIS, at(2025, 10, 6, 11)) == pytest.approx(expected_basis, abs=1e-9)
    assert -10 < expected_basis < 0  # perp a few bps under spot that hour


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_todays_partition_holds_only_what_is_known_now(source):
    now = at(2025, 10, 6, 10, 59, 59)
    frame = SOURCES[source](OCT, now)
    assert (frame["available_at"] <= now).all()
    funding = frame.filter(pl.col("metric") == FUNDING)["event_time"].to_list()
    assert funding == [at(2025, 10, 6, 0), at(2025, 10, 6, 8)]  # 16:00 has not happened
    for metric in (MARK, BASIS, OPEN_INTEREST, TAKER_BUY):
        stamps = frame.filter(pl.col("metric") == metric)["event_time"].to_list()
        assert stamps == [at(2025, 10, 6, h) for h in range(10)], metric  # the 10:00 hour is open

    later = SOURCES[source](OCT, at(2025, 10, 6, 11))
    assert later.filter(pl.col("metric") == MARK)["event_time"].max() == at(2025, 10, 6, 10)
