"""Where market bars come from: an exchange through ccxt, or imported offline bundles.

Both implement ``MarketDataSource.fetch_bars`` so ``market_bars`` does not know which one it
is talking to; the definitions pick one per environment.
"""

from datetime import datetime

import polars as pl
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from quant_assets import venues
from quant_assets.bundles.unpacked import UnpackedBundles
from quant_assets.market.bars import BARS_ASSET, empty_bars, only_closed, with_availability
from quant_assets.partitions import DaySymbol
from quant_assets.symbols import Symbol
from quant_assets.timegrid import floor_to_bar
from quant_assets.venues.bars import fetch_bars
from quant_assets.venues.client import make_exchange


class MarketDataSource(ConfigurableResource):
    """Interface: bars for a set of (day, symbol) partitions, with per-partition provenance."""

    def fetch_bars(self, parts: list[DaySymbol], now: datetime) -> tuple[pl.DataFrame, dict[DaySymbol, dict]]:
        """A frame with ``symbol`` plus the bar schema, and metadata to record per partition."""
        raise NotImplementedError

    def newest_close(self, now: datetime) -> datetime | None:
        """The newest bar close this source can serve at ``now`` beyond the lake, or None when
        it serves nothing newer than what ``market_bars`` already wrote (bundles, file drops).
        The paper sensor asks this first: with a live source the clock, not the lake, says
        when a bar has closed, and the tick fetches the bars itself."""
        return None


class CcxtMarketData(MarketDataSource):
    """Closed 5m bars from an exchange through ccxt (the default venue's spot market by default)."""

    exchange_id: str = venues.default().name
    market_type: str = "spot"
    page_limit: int = 1000

    _exchange = PrivateAttr(default=None)

    def exchange(self):
        if self._exchange is None:
            self._exchange = make_exchange(self.exchange_id, self.market_type)
        return self._exchange

    def newest_close(self, now: datetime) -> datetime | None:
        # A bar exists once it has closed (``only_closed``); the exchange has it from then on.
        return floor_to_bar(now)

    def fetch_bars(self, parts, now):
        exchange = self.exchange()
        frames = []
        # One paginated request stream per symbol over the whole span the run covers.
        for symbol in sorted({p.symbol for p in parts}):
            days = [p for p in parts if p.symbol == symbol]
            market = venues.get(self.exchange_id).symbol(symbol, self.market_type)
            bars = fetch_bars(exchange, market, days[0].start, days[-1].end, now, limit=self.page_limit)
            frames.append(bars.with_columns(symbol=pl.lit(symbol)))
        frame = pl.concat(frames) if frames else empty_bars().with_columns(symbol=pl.lit(""))
        meta = {p: {"source": f"ccxt:{self.exchange_id}:{self.market_type}"} for p in parts}
        return frame, meta


class FileDropMarketData(MarketDataSource):
    """Bars from parquet files dropped in a folder, freqtrade/ccxt style long format.

    Each file holds ``symbol`` (ccxt form, ``BTC/USDT``), ``ts`` (bar open, UTC) and OHLCV;
    this is how exchange downloads made elsewhere (``../shared/data``) enter the lake.
    """

    folder: str
    pattern: str = "*.parquet"
    source_name: str = "file"

    def fetch_bars(self, parts, now):
        wanted = {Symbol.from_key(s).spot: s for s in {p.symbol for p in parts}}
        start, end = min(p.start for p in parts), max(p.end for p in parts)
        frame = (
            pl.scan_parquet(f"{self.folder.rstrip('/')}/{self.pattern}")
            .filter(pl.col("symbol").is_in(list(wanted)), pl.col("ts") >= start, pl.col("ts") < end)
            .with_columns(symbol=pl.col("symbol").replace_strict(wanted, return_dtype=pl.String))
            .collect()
        )
        bars = with_availability(frame, source=self.source_name)
        return only_closed(bars, now), {p: {"source": f"file:{self.source_name}"} for p in parts}


class BundleMarketData(MarketDataSource):
    """Bars from bundles unpacked by ``quant-assets bundle import`` (no network)."""

    bundles_root: str

    def fetch_bars(self, parts, now):
        frame, meta = UnpackedBundles(self.bundles_root).read_with_provenance(BARS_ASSET, parts)
        # A bundle exported mid-day may hold a bar that, on this clock, is still forming.
        return only_closed(frame, now), meta
