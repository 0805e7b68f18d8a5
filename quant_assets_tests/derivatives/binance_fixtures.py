"""Shared helpers for the derivatives tests: fixture paths, spot bars, a recorded Binance."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl

from quant_assets.market.bars import with_availability
from quant_assets.partitions import DaySymbol
from quant_assets.resources.derivatives_data import CcxtDerivatives
from quant_assets_tests.conftest import FIXTURES, SPOT_FIXTURE
from quant_assets_tests.recorded_exchange import RecordedExchange, fixture, windowed

UTC = timezone.utc
DERIV_FIXTURES = FIXTURES / "derivatives"

FUNDING_PATH = "/fapi/v1/fundingRate"
MARK_PATH = "/fapi/v1/markPriceKlines"
OI_PATH = "/futures/data/openInterestHist"
LSR_PATH = "/futures/data/globalLongShortAccountRatio"
TAKER_PATH = "/futures/data/takerlongshortRatio"
STAT_PATHS = (OI_PATH, LSR_PATH, TAKER_PATH)

# Binance's real error bodies.
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
INVALID_START_TIME = {"code": -1130, "msg": "parameter 'startTime' is invalid."}
TOO_MANY_REQUESTS = {"code": -1003, "msg": "Too many requests; current limit of IP(10.0.0.1) is 2400 requests per minute."}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def days(symbols: list[str], first: date, last: date) -> list[DaySymbol]:
    n = (last - first).days + 1
    return sorted(DaySymbol(first + timedelta(days=i), s) for i in range(n) for s in symbols)


def spot_bars() -> pl.DataFrame:
    """The spot 5m fixture as ``market_bars`` stores it (with ``symbol`` as a partition key)."""
    raw = pl.read_parquet(SPOT_FIXTURE).with_columns(symbol=pl.col("symbol").str.replace("/", "-"))
    return with_availability(raw, source="binance-spot")


def recorded(name: str):
    return fixture("derivatives", "binance", name)


def _by_time(key: str):
    return lambda row: int(row[key])


def binance_derivatives(
    now: datetime,
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    first_replies: dict[str, tuple] | None = None,
    **config,
) -> tuple[CcxtDerivatives, RecordedExchange]:
    """A ``CcxtDerivatives`` whose exchange is served the recorded payloads, as seen at ``now``.

    Binance pages every endpoint by startTime/endTime/limit; ``first_replies`` maps an
    endpoint path to replies served before the recording (errors, an empty answer).
    Endpoints with no recording for a symbol answer ``[]``, as Binance does for a window
    it holds nothing for.
    """
    config.setdefault("retry_base_delay_s", 0.0)
    source = CcxtDerivatives(**config)
    rec = RecordedExchange(source.exchange())
    rec.route("/fapi/v1/exchangeInfo", recorded("fapi_v1_exchangeInfo.json"))
    now_ms = int(now.timestamp() * 1000)
    tables = {
        FUNDING_PATH: (recorded("fapi_v1_fundingRate.json"), _by_time("fundingTime"), 100, 1000),
        MARK_PATH: (recorded("fapi_v1_markPriceKlines_1h.json"), lambda r: int(r[0]), 500, 1500),
        OI_PATH: (recorded("futures_data_openInterestHist_1h.json"), _by_time("timestamp"), 30, 500),
        LSR_PATH: (recorded("futures_data_globalLongShortAccountRatio_1h.json"), _by_time("timestamp"), 30, 500),
        TAKER_PATH: (recorded("futures_data_takerlongshortRatio_1h.json"), _by_time("timestamp"), 30, 500),
    }
    first_replies = first_replies or {}
    for path, (by_symbol, time_of, default_limit, max_limit) in tables.items():
        for market_id in symbols:
            # A statistic stamped at an hour's open exists once that hour has closed; a mark
            # kline exists (still forming) from its open; a funding row from its time.
            if path in STAT_PATHS:
                visible_ms = now_ms - 3_600_000
            else:
                visible_ms = now_ms
            body = windowed(
                by_symbol.get(market_id, []),
                time_of=time_of,
                default_limit=default_limit,
                max_limit=max_limit,
                now_ms=visible_ms,
            )
            rec.route(path, *first_replies.get(path, ()), body, when={"symbol": market_id})
    return source, rec
