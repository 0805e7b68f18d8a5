"""CcxtDerivatives through ccxt's real Binance request building, error mapping and parsing,
served recorded Binance USD-M payloads built from real data (fixtures/derivatives/binance)."""

from __future__ import annotations

from datetime import date, timedelta

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
from quant_assets.timegrid import to_ms
from quant_assets.venues.derivatives import stats_history_floor
from quant_assets.venues.errors import ExchangeCallFailed
from quant_assets_tests.derivatives.binance_fixtures import (
    DERIV_FIXTURES,
    FUNDING_PATH,
    INVALID_START_TIME,
    INVALID_SYMBOL,
    LSR_PATH,
    MARK_PATH,
    OI_PATH,
    TAKER_PATH,
    TOO_MANY_REQUESTS,
    at,
    binance_derivatives,
    days,
    recorded,
    spot_bars,
)
from quant_assets_tests.recorded_exchange import http_error

OCT = days(["BTC-USDT", "ETH-USDT"], date(2025, 10, 5), date(2025, 10, 7))
OCT_NOW = at(2025, 10, 9)
# SOL statistics exist from 2026-05-31 15:00. Seen from June 30 05:30, Binance's ~30 days
# reach back to May 31 07:00: hours before that are not asked for; 07:00-14:00 are asked
# for and come back empty (the missing-history window); from 15:00 on there is data.
JUNE = days(["SOL-USDT"], date(2026, 5, 31), date(2026, 6, 3))
JUNE_NOW = at(2026, 6, 30, 5, 30)


def _file_drop(parts, now):
    frame, _ = FileDropDerivatives(folder=str(DERIV_FIXTURES)).fetch(parts, now, spot_bars())
    return frame


def test_funding_and_mark_page_through_the_history_and_equal_the_recording():
    source, rec = binance_derivatives(OCT_NOW, funding_page_limit=4, mark_page_limit=24)
    frame, meta = source.fetch(OCT, OCT_NOW, spot_bars())

    funding_pages = [r.query for r in rec.requests_to(FUNDING_PATH) if r.query["symbol"] == "BTCUSDT"]
    assert len(funding_pages) >= 3  # 9 events, 4 a page, then an empty page ends the stream
    assert all(q["limit"] == "4" for q in funding_pages)
    for previous, page in zip(funding_pages, funding_pages[1:]):
        assert int(page["startTime"]) > int(previous["startTime"])
    mark_pages = [r.query for r in rec.requests_to(MARK_PATH) if r.query["symbol"] == "BTCUSDT"]
    assert len(mark_pages) >= 3 and all(q["interval"] == "1h" for q in mark_pages)
    assert [int(q["startTime"]) for q in mark_pages[:3]] == [to_ms(at(2025, 10, 5 + i)) for i in range(3)]

    # Values are exactly what the recording (and the real data behind it) holds.
    for market_id, key in (("BTCUSDT", "BTC-USDT"), ("ETHUSDT", "ETH-USDT")):
        expected = [(r["fundingTime"], float(r["fundingRate"])) for r in recorded("fapi_v1_fundingRate.json")[market_id]]
        got = frame.filter(pl.col("symbol") == key, pl.col("metric") == FUNDING).select(pl.col("event_time").dt.epoch("ms"), "value")
        assert got.rows() == expected
        marks = [(r[0], float(r[4])) for r in recorded("fapi_v1_markPriceKlines_1h.json")[market_id]]
        got = frame.filter(pl.col("symbol") == key, pl.col("metric") == MARK).select(pl.col("event_time").dt.epoch("ms"), "value")
        assert got.rows() == marks
    # Same rows as the file-drop source gives from the parquet downloads, basis included.
    file_rows = _file_drop(OCT, OCT_NOW).filter(~pl.col("metric").is_in(STAT_METRICS)).drop("source")
    assert frame.filter(~pl.col("metric").is_in(STAT_METRICS)).drop("source").equals(file_rows)
    assert not frame.select(pl.struct("symbol", "metric", "event_time").is_duplicated().any()).item()
    assert meta[OCT[0]]["source"] == "ccxt:binance:swap"


def test_forming_mark_hour_and_future_funding_are_not_kept():
    now = at(2025, 10, 7, 13, 30)
    source, rec = binance_derivatives(now)
    frame, _ = source.fetch(OCT, now, spot_bars())
    assert frame.filter(pl.col("metric") == MARK)["event_time"].max() == at(2025, 10, 7, 12)
    assert frame.filter(pl.col("metric") == FUNDING)["event_time"].max() == at(2025, 10, 7, 8)
    assert (frame["available_at"] <= now).all()
    # The funding request never asks past now.
    assert max(int(r.query["endTime"]) for r in rec.requests_to(FUNDING_PATH)) <= to_ms(now)


def test_statistics_come_in_windows_with_the_missing_history_flagged():
    source, rec = binance_derivatives(JUNE_NOW, stats_page_limit=24)
    frame, meta = source.fetch(JUNE, JUNE_NOW, spot_bars())
    floor = stats_history_floor(JUNE_NOW, 30)
    assert floor == at(2026, 5, 31, 7)

    for path in (OI_PATH, LSR_PATH, TAKER_PATH):
        queries = [r.query for r in rec.requests_to(path)]
        # 89 closed hours from May 31 07:00 to June 4 00:00, 24 a window: four windows, all asked.
        assert [int(q["startTime"]) for q in queries] == [to_ms(floor + timedelta(hours=24 * i)) for i in range(4)]
        assert all(q["period"] == "1h" and q["limit"] == "24" for q in queries)
        assert all(int(q["startTime"]) >= to_ms(floor) for q in queries)  # never older than Binance keeps

    by_day = {part.day: (rows, coverage(rows, part, JUNE_NOW)) for part, rows in split_partitions(frame, JUNE)}
    first_rows, first = by_day[date(2026, 5, 31)]
    for metric in STAT_METRICS:
        assert first[f"coverage_{metric}"] == pytest.approx(9 / 24)
        missing = first_rows.filter(pl.col("metric") == metric, pl.col("is_missing"))
        assert missing["event_time"].to_list() == [at(2026, 5, 31, h) for h in range(15)]
        assert missing["value"].null_count() == 15
        assert by_day[date(2026, 6, 2)][1][f"coverage_{metric}"] == 1.0
    assert "flagged missing" in meta[JUNE[0]]["stats_note"]
    assert "stats_note" not in meta[JUNE[1]]

    # Values through ccxt's parsing equal the real download, field by field.
    real = _file_drop(JUNE, JUNE_NOW).filter(pl.col("metric").is_in(STAT_METRICS)).drop("source")
    assert frame.filter(pl.col("metric").is_in(STAT_METRICS)).drop("source").equals(real)
    one = frame.filter(pl.col("event_time") == at(2026, 6, 1, 10))
    values = dict(one.filter(pl.col("metric").is_in(STAT_METRICS)).select("metric", "value").iter_rows())
    assert values == {OPEN_INTEREST: 260256331.0379, LONG_SHORT: 3.45, TAKER_BUY: 8104749.9464, TAKER_SELL: 8824524.023}


def test_statistics_older_than_the_exchange_keeps_are_all_missing_without_a_request():
    now = at(2026, 8, 1)
    source, rec = binance_derivatives(now)
    frame, meta = source.fetch(JUNE, now, spot_bars())
    assert rec.requests_to(OI_PATH) == [] and rec.requests_to(TAKER_PATH) == []
    stats = frame.filter(pl.col("metric").is_in(STAT_METRICS))
    assert stats.height == 4 * 24 * 4 and stats["is_missing"].all()
    assert all("stats_note" in meta[p] for p in JUNE)


def test_an_exchange_error_reply_fails_naming_the_call_without_retrying():
    source, rec = binance_derivatives(OCT_NOW, first_replies={FUNDING_PATH: (http_error(400, INVALID_SYMBOL),)})
    with pytest.raises(ExchangeCallFailed, match=r"fetch_funding_rate_history BTC/USDT:USDT.*does not know this symbol"):
        source.fetch(OCT, OCT_NOW, spot_bars())
    assert len(rec.requests_to(FUNDING_PATH)) == 1


def test_a_refused_history_window_is_an_error_not_silently_missing():
    source, rec = binance_derivatives(JUNE_NOW, first_replies={OI_PATH: (http_error(400, INVALID_START_TIME),)})
    with pytest.raises(ExchangeCallFailed, match=r"fetch_open_interest_history 1h SOL/USDT:USDT.*BadRequest"):
        source.fetch(JUNE, JUNE_NOW, spot_bars())
    assert len(rec.requests_to(OI_PATH)) == 1


def test_rate_limited_requests_are_retried_and_the_data_is_complete():
    source, rec = binance_derivatives(JUNE_NOW, first_replies={TAKER_PATH: (http_error(429, TOO_MANY_REQUESTS),), LSR_PATH: (http_error(503, ""),)})
    frame, _ = source.fetch(JUNE, JUNE_NOW, spot_bars())
    statuses = [r.status for r in rec.requests_to(TAKER_PATH)]
    assert statuses[:2] == [429, 200]
    assert [r.status for r in rec.requests_to(LSR_PATH)][:2] == [503, 200]
    assert frame.filter(pl.col("metric") == TAKER_BUY, ~pl.col("is_missing")).height == 81
    assert frame.filter(pl.col("metric") == LONG_SHORT, ~pl.col("is_missing")).height == 81
