"""market_bars from ccxt, through ccxt's real Binance request building, error mapping and
parsing, served recorded Binance payloads built from real data (fixtures/binance). No network."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ccxt
import polars as pl
import pytest

from quant_assets.market.bars import BAR_SCHEMA, split_partitions
from quant_assets.partitions import DaySymbol
from quant_assets.resources.market_data import CcxtMarketData
from quant_assets.timegrid import BAR, to_ms
from quant_assets.venues.bars import fetch_bars
from quant_assets.venues.client import make_exchange
from quant_assets.venues.errors import ExchangeCallFailed
from quant_assets_tests.recorded_exchange import (
    RecordedExchange,
    fixture,
    http_error,
    network_error,
    windowed,
)

UTC = timezone.utc
DAY = datetime(2025, 10, 10, tzinfo=UTC)  # the October 10 liquidation cascade
NEXT_DAY = DAY + timedelta(days=1)
KLINES = "/api/v3/klines"
SHARED_SPOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "binance_spot_5m.parquet"

# Binance's real error bodies.
TOO_MANY_REQUESTS = {
    "code": -1003,
    "msg": "Too many requests; current limit of IP(10.0.0.1) is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid using the API.",
}
SERVER_BUSY = {"code": -1008, "msg": "Server is currently overloaded with other requests. Please try again in a few minutes."}
INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


def klines(market_id: str) -> list[list]:
    return fixture("binance", f"api_v3_klines_{market_id}_5m.json")


def binance_spot() -> tuple[ccxt.Exchange, RecordedExchange]:
    exchange = make_exchange("binance", "spot")
    recorded = RecordedExchange(exchange)
    recorded.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    return exchange, recorded


def serve_klines(recorded: RecordedExchange, market_id: str, *first_replies, now: datetime | None = None):
    """Klines of ``market_id`` paged like Binance, as seen at ``now``; ``first_replies`` go first."""
    body = windowed(klines(market_id), now_ms=to_ms(now) if now else None)
    recorded.route(KLINES, *first_replies, body, when={"symbol": market_id, "interval": "5m"})


def expected_frame(market_id: str, start: datetime, stop: datetime) -> pl.DataFrame:
    """The fixture rows opened in ``[start, stop)`` as floats, straight from the JSON."""
    rows = [r for r in klines(market_id) if to_ms(start) <= r[0] < to_ms(stop)]
    return pl.DataFrame(
        {
            "ts": [datetime.fromtimestamp(r[0] / 1000, UTC) for r in rows],
            **{name: [float(r[i]) for r in rows] for i, name in enumerate(["open", "high", "low", "close", "volume"], 1)},
        }
    ).with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))


def assert_same_bars(frame: pl.DataFrame, expected: pl.DataFrame) -> None:
    got = frame.select("ts", "open", "high", "low", "close", "volume")
    assert got.equals(expected), got.join(expected, on="ts", how="full", suffix="_exp").head()


# -- a full day ---------------------------------------------------------------------------


def test_full_day_through_ccxt_equals_the_recorded_binance_day():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY + timedelta(hours=3))

    assert frame.height == 288
    assert dict(frame.schema) == BAR_SCHEMA
    assert frame["ts"].to_list() == [DAY + i * BAR for i in range(288)]
    assert (frame["available_at"] == frame["ts"] + BAR).all()
    assert frame["source"].unique().to_list() == ["ccxt:binance"]
    assert_same_bars(frame, expected_frame("BTCUSDT", DAY, NEXT_DAY))
    # A fact of the real day: the cascade's low of 102,000.00 printed in the 21:20 bar.
    low = frame.filter(pl.col("low") == pl.col("low").min())
    assert low["low"].to_list() == [102000.0] and low["ts"].to_list() == [DAY.replace(hour=21, minute=20)]
    # One page: ccxt asked Binance for the right market, interval, start and page size.
    (request,) = recorded.requests_to(KLINES)
    assert request.url.startswith("https://api.binance.com/api/v3/klines?")
    assert request.query == {"interval": "5m", "limit": "1000", "symbol": "BTCUSDT", "startTime": str(to_ms(DAY))}


@pytest.mark.skipif(not SHARED_SPOT.exists(), reason="../shared/data is not available here")
def test_full_day_equals_the_shared_parquet():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY)

    truth = (
        pl.scan_parquet(SHARED_SPOT)
        .filter(pl.col("symbol") == "BTC/USDT", pl.col("ts") >= DAY, pl.col("ts") < NEXT_DAY)
        .sort("ts")
        .select("ts", "open", "high", "low", "close", "volume")
        .collect()
        .with_columns(pl.col("ts").cast(BAR_SCHEMA["ts"]))
    )
    assert truth.height == 288
    assert_same_bars(frame, truth)


# -- pagination ---------------------------------------------------------------------------


def test_pagination_walks_the_day_in_pages_without_gaps_or_overlaps():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, limit=100)

    pages = recorded.requests_to(KLINES)
    assert [int(r.query["startTime"]) for r in pages] == [to_ms(DAY + k * 100 * BAR) for k in range(3)]
    assert {r.query["limit"] for r in pages} == {"100"}
    assert frame.height == 288 and frame["ts"].n_unique() == 288
    assert_same_bars(frame, expected_frame("BTCUSDT", DAY, NEXT_DAY))


def test_pagination_across_days_keeps_only_the_window():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")
    start = DAY - timedelta(days=1)

    # ccxt clamps Binance pages to 1000 bars; 576 bars of two days fit in one.
    frame = fetch_bars(exchange, "BTC/USDT", start, NEXT_DAY, now=NEXT_DAY, limit=5000)

    (page,) = recorded.requests_to(KLINES)
    assert page.query["limit"] == "1000"
    assert frame.height == 576
    assert_same_bars(frame, expected_frame("BTCUSDT", start, NEXT_DAY))


# -- only closed bars ---------------------------------------------------------------------


def test_today_mid_day_holds_only_closed_bars():
    now = DAY.replace(hour=12, minute=7)
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT", now=now)  # Binance at 12:07 also sends the 12:05 bar

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=now, limit=100)

    assert frame["ts"].max() == DAY.replace(hour=12, minute=0)
    assert DAY.replace(hour=12, minute=5) not in frame["ts"].to_list()
    assert frame.height == 145 and (frame["available_at"] <= now).all()
    # Two pages then stop: nothing is asked for the bar still forming or beyond.
    assert [int(r.query["startTime"]) for r in recorded.requests_to(KLINES)] == [to_ms(DAY), to_ms(DAY + 100 * BAR)]


@pytest.mark.parametrize("now", [DAY.replace(hour=12, minute=5), DAY.replace(hour=12, minute=9, second=59)])
def test_forming_bar_in_the_payload_is_dropped(now):
    exchange, recorded = binance_spot()
    # A recorded page that ends with the 12:05 bar, still forming at ``now``.
    page = [r for r in klines("BTCUSDT") if to_ms(DAY) <= r[0] <= to_ms(DAY.replace(hour=12, minute=5))]
    recorded.route(KLINES, page)

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=now)

    assert frame["ts"].max() == DAY.replace(hour=12, minute=0)
    assert frame.height == 145
    assert len(recorded.requests_to(KLINES)) == 1


def test_stops_at_the_last_closed_bar_without_asking_again():
    now = DAY.replace(hour=12, minute=7)
    exchange, recorded = binance_spot()
    # An exchange that, unlike Binance, does not send the bar still forming.
    page = [r for r in klines("BTCUSDT") if to_ms(DAY) <= r[0] <= to_ms(DAY.replace(hour=12))]
    recorded.route(KLINES, page)

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=now)

    assert frame.height == 145 and len(recorded.requests_to(KLINES)) == 1


def test_nothing_closed_yet_asks_nothing():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT", now=DAY + timedelta(minutes=4))

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=DAY + timedelta(minutes=4))

    assert frame.is_empty() and dict(frame.schema) == BAR_SCHEMA
    assert recorded.requests_to(KLINES) == []


# -- retries ------------------------------------------------------------------------------

TRANSIENT = [
    pytest.param(http_error(429, TOO_MANY_REQUESTS), ccxt.DDoSProtection, id="429-rate-limited"),
    pytest.param(http_error(418, TOO_MANY_REQUESTS), ccxt.DDoSProtection, id="418-ip-banned"),
    pytest.param(http_error(503, "Service Unavailable"), ccxt.ExchangeNotAvailable, id="503-unavailable"),
    pytest.param(http_error(503, SERVER_BUSY), ccxt.OperationFailed, id="503-server-busy-1008"),
    pytest.param(http_error(504, ""), ccxt.RequestTimeout, id="504-gateway-timeout"),
    pytest.param(network_error(ccxt.NetworkError), ccxt.NetworkError, id="connection-reset"),
    pytest.param(network_error(ccxt.RequestTimeout), ccxt.RequestTimeout, id="read-timeout"),
]


@pytest.mark.parametrize("failure, ccxt_error", TRANSIENT)
def test_transient_failure_is_retried_with_backoff(failure, ccxt_error):
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT", failure)
    # ccxt itself maps the reply to this exception class (and consumes the failure).
    with pytest.raises(ccxt_error):
        exchange.fetch_ohlcv("BTC/USDT", "5m", since=to_ms(DAY))
    serve_klines(recorded, "ETHUSDT", failure, failure)
    sleeps: list[float] = []

    frame = fetch_bars(exchange, "ETH/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=sleeps.append)

    assert sleeps == [1.0, 2.0]  # exponential backoff after each failure
    failed_status = None if failure.raises else failure.status  # None: no HTTP reply at all
    assert [r.status for r in recorded.requests_to(KLINES)[1:]] == [failed_status, failed_status, 200]
    assert_same_bars(frame, expected_frame("ETHUSDT", DAY, NEXT_DAY))


def test_persistent_network_error_gives_up_after_the_attempts():
    exchange, recorded = binance_spot()
    recorded.route(KLINES, network_error())
    sleeps: list[float] = []

    with pytest.raises(ExchangeCallFailed, match=r"BTC/USDT.*after 5 attempts.*NetworkError") as failed:
        fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=sleeps.append)

    assert isinstance(failed.value.__cause__, ccxt.NetworkError)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert len(recorded.requests_to(KLINES)) == 5


def test_markets_that_fail_to_load_are_retried_too():
    exchange = make_exchange("binance", "spot")
    recorded = RecordedExchange(exchange)
    recorded.route("/api/v3/exchangeInfo", http_error(503, ""), fixture("binance", "api_v3_exchangeInfo.json"))
    serve_klines(recorded, "BTCUSDT")
    sleeps: list[float] = []

    frame = fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=sleeps.append)

    assert frame.height == 288 and sleeps == [1.0]
    assert [r.path for r in recorded.requests] == ["/api/v3/exchangeInfo", "/api/v3/exchangeInfo", KLINES]


# -- bad symbols --------------------------------------------------------------------------


def test_binance_invalid_symbol_reply_fails_at_once_naming_the_symbol():
    exchange, recorded = binance_spot()
    recorded.route(KLINES, http_error(400, INVALID_SYMBOL), when={"symbol": "ETHUSDT"})
    sleeps: list[float] = []

    with pytest.raises(ExchangeCallFailed, match=r"ETH/USDT.*does not know this symbol.*Invalid symbol") as failed:
        fetch_bars(exchange, "ETH/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=sleeps.append)

    assert isinstance(failed.value.__cause__, ccxt.BadSymbol)
    assert sleeps == [] and len(recorded.requests_to(KLINES)) == 1


def test_symbol_missing_from_the_markets_fails_without_asking_for_klines():
    exchange, recorded = binance_spot()

    with pytest.raises(ExchangeCallFailed, match=r"SOL/USDT.*does not know this symbol"):
        fetch_bars(exchange, "SOL/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=lambda s: None)

    assert recorded.requests_to(KLINES) == []


def test_a_non_transient_error_is_not_retried():
    exchange, recorded = binance_spot()
    recorded.route(KLINES, http_error(400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbol'."}))
    sleeps: list[float] = []

    with pytest.raises(ExchangeCallFailed, match="BadRequest"):
        fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, sleep=sleeps.append)

    assert sleeps == [] and len(recorded.requests_to(KLINES)) == 1


# -- the Dagster resource -----------------------------------------------------------------


def recorded_market_data(exchange: ccxt.Exchange, **config) -> CcxtMarketData:
    """CcxtMarketData bound to ``exchange``, surviving Dagster's copies of the resource
    (a private attribute set on an instance does not: Dagster rebuilds it from config)."""

    class RecordedCcxtMarketData(CcxtMarketData):
        def exchange(self):
            return exchange

    return RecordedCcxtMarketData(**config)


def test_ccxt_market_data_resource_fills_several_partitions():
    now = DAY.replace(hour=12, minute=7)  # today's partition is the 10th
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT", now=now)
    serve_klines(recorded, "ETHUSDT", now=now)
    resource = recorded_market_data(exchange, page_limit=100)
    parts = [
        DaySymbol(DAY.date() - timedelta(days=1), "BTC-USDT"),
        DaySymbol(DAY.date(), "BTC-USDT"),
        DaySymbol(DAY.date(), "ETH-USDT"),
    ]

    frame, meta = resource.fetch_bars(parts, now)

    by_part = dict(split_partitions(frame, parts))
    assert {p: f.height for p, f in by_part.items()} == {parts[0]: 288, parts[1]: 145, parts[2]: 145}
    assert_same_bars(by_part[parts[0]], expected_frame("BTCUSDT", DAY - timedelta(days=1), DAY))
    assert_same_bars(by_part[parts[1]], expected_frame("BTCUSDT", DAY, DAY.replace(hour=12, minute=5)))
    assert_same_bars(by_part[parts[2]], expected_frame("ETHUSDT", DAY, DAY.replace(hour=12, minute=5)))
    assert all(dict(f.schema) == BAR_SCHEMA for f in by_part.values())
    assert meta == {p: {"source": "ccxt:binance:spot"} for p in parts}
    # One paginated stream per symbol: 433 closed BTC bars in 5 pages, 145 ETH bars in 2.
    symbols = [r.query["symbol"] for r in recorded.requests_to(KLINES)]
    assert symbols == ["BTCUSDT"] * 5 + ["ETHUSDT"] * 2


def test_market_bars_asset_materializes_a_day_range_from_ccxt(tmp_path):
    from dagster import DagsterInstance, materialize

    from quant_assets.assets.market import market_bars
    from quant_assets.assets.market_checks import market_bars_checks
    from quant_assets.lake.store import ParquetLake
    from quant_assets.resources.lake import LakeResource

    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")
    serve_klines(recorded, "ETHUSDT")
    # The range 2025-10-10|BTC-USDT .. 2025-10-10|ETH-USDT: both symbols of one day, one run.
    result = materialize(
        [market_bars, market_bars_checks],  # the checks publish what passes
        resources={"lake": LakeResource(root=str(tmp_path / "lake")), "market_data": recorded_market_data(exchange)},
        instance=DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": "2025-10-10|BTC-USDT",
            "dagster/asset_partition_range_end": "2025-10-10|ETH-USDT",
        },
    )

    assert result.success
    lake = ParquetLake(str(tmp_path / "lake"))
    assert lake.partitions("market_bars") == [DaySymbol(DAY.date(), "BTC-USDT"), DaySymbol(DAY.date(), "ETH-USDT")]
    for key, market_id in [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT")]:
        stored = lake.read("market_bars", DaySymbol(DAY.date(), key))
        assert dict(stored.schema) == BAR_SCHEMA
        assert_same_bars(stored, expected_frame(market_id, DAY, NEXT_DAY))


# -- the client: rate limits and markets --------------------------------------------------


def test_make_exchange_turns_ccxt_rate_limiting_on():
    exchange, recorded = binance_spot()
    serve_klines(recorded, "BTCUSDT")
    assert exchange.enableRateLimit is True and exchange.rateLimit == 50
    assert exchange.options["defaultType"] == "spot"

    fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, limit=100)

    # ccxt's throttle was consulted before every request, with Binance's weights
    # (exchangeInfo 20, klines 2; one cost unit = 5 weight at rateLimit 50 ms).
    assert recorded.throttle_costs == [4, 0.4, 0.4, 0.4]


def test_the_real_throttle_spaces_requests():
    exchange = make_exchange("binance", "spot")
    recorded = RecordedExchange(exchange, real_throttle=True)
    recorded.route("/api/v3/exchangeInfo", fixture("binance", "api_v3_exchangeInfo.json"))
    serve_klines(recorded, "BTCUSDT")

    started = time.monotonic()
    fetch_bars(exchange, "BTC/USDT", DAY, NEXT_DAY, now=NEXT_DAY, limit=100)

    # Each of the 3 klines requests waits 0.4 * 50 ms after the one before it.
    assert time.monotonic() - started >= 3 * 0.020


def test_spot_client_loads_only_spot_markets_and_swap_only_usdm():
    spot, recorded_spot = binance_spot()
    spot.load_markets()
    assert [r.path for r in recorded_spot.requests] == ["/api/v3/exchangeInfo"]
    assert sorted(spot.symbols) == ["BTC/USDT", "ETH/USDT"]

    swap = make_exchange("binance", "swap")
    recorded_swap = RecordedExchange(swap)
    recorded_swap.route("/fapi/v1/exchangeInfo", fixture("binance", "fapi_v1_exchangeInfo.json"))
    swap.load_markets()
    assert [r.path for r in recorded_swap.requests] == ["/fapi/v1/exchangeInfo"]
    assert sorted(swap.symbols) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert swap.market("BTC/USDT:USDT")["linear"] is True


@pytest.mark.parametrize("exchange_id", ["nosuchexchange", "NetworkError", "Exchange"])
def test_make_exchange_rejects_what_is_not_an_exchange(exchange_id):
    with pytest.raises(ExchangeCallFailed, match="ccxt has no exchange"):
        make_exchange(exchange_id, "spot")
