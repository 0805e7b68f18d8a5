"""Where derivatives come from: an exchange through ccxt, imported bundles, or dropped files.

All implement ``DerivativesSource.fetch`` so the ``derivatives`` asset does not know which one
it is talking to; the definitions pick one per environment.
"""

from datetime import datetime
from pathlib import Path

import polars as pl
from dagster import ConfigurableResource
from pydantic import PrivateAttr

from quant_assets import venues
from quant_assets.bundles.unpacked import UnpackedBundles
from quant_assets.derivatives.files import FUNDING_COLUMNS, MARK_COLUMNS, STAT_COLUMNS, read_metric_file
from quant_assets.derivatives.frame import (
    DERIVATIVES_ASSET,
    STAT_METRICS,
    assemble,
    complete_stored,
    empty_observations,
    with_basis,
)
from quant_assets.partitions import DaySymbol
from quant_assets.symbols import Symbol
from quant_assets.venues import derivatives as ccxt_derivatives
from quant_assets.venues.client import call_with_retries, make_exchange


class DerivativesSource(ConfigurableResource):
    """Interface: derivatives rows for a set of (day, symbol) partitions, with provenance."""

    def fetch(self, parts: list[DaySymbol], now: datetime, spot_bars: pl.DataFrame) -> tuple[pl.DataFrame, dict[DaySymbol, dict]]:
        """A frame with ``symbol`` plus the derivatives schema (every closed hourly slot has a
        row, missing ones flagged), and metadata to record per partition.

        ``spot_bars`` are the ``market_bars`` rows of the same partitions (with ``symbol``),
        for the basis; only records available at ``now`` are returned.
        """
        raise NotImplementedError


def _span(parts: list[DaySymbol], symbol: str) -> tuple[datetime, datetime]:
    days = [p for p in parts if p.symbol == symbol]
    return min(p.start for p in days), max(p.end for p in days)


class CcxtDerivatives(DerivativesSource):
    """Perpetual-futures data from an exchange through ccxt (the default venue's linear
    perpetuals by default).

    Funding and mark price come with the exchange's full history; open interest, long/short
    and taker statistics only for the last ``stats_history_days`` (the default venue keeps
    ~30 days), so older hours are flagged missing and the partition metadata says why.
    """

    exchange_id: str = venues.default().name
    funding_page_limit: int = 1000
    mark_page_limit: int = 1000
    stats_page_limit: int = 500
    stats_history_days: float = 30.0
    retry_base_delay_s: float = 1.0

    _exchange = PrivateAttr(default=None)

    def exchange(self):
        if self._exchange is None:
            # Swap markets only: the venue says which families that loads (``markets_to_load``).
            self._exchange = make_exchange(self.exchange_id, "swap")
        return self._exchange

    def fetch(self, parts, now, spot_bars):
        exchange = self.exchange()
        retry = {"base_delay_s": self.retry_base_delay_s}
        call_with_retries(exchange.load_markets, what=f"{exchange.id} load_markets", **retry)
        floor = ccxt_derivatives.stats_history_floor(now, self.stats_history_days)
        has = exchange.has
        frames = []
        # One paginated request stream per symbol and metric over the whole span of the run.
        for key in sorted({p.symbol for p in parts}):
            perp = venues.get(self.exchange_id).symbol(key, "swap")
            start, end = _span(parts, key)
            frames.append(ccxt_derivatives.fetch_funding(exchange, perp, key, start, end, now, self.funding_page_limit, retry))
            frames.append(ccxt_derivatives.fetch_mark(exchange, perp, key, start, end, now, self.mark_page_limit, retry))
            stats = (start, end, now, floor, self.stats_page_limit, retry)
            if has.get("fetchOpenInterestHistory"):
                frames.append(ccxt_derivatives.fetch_open_interest(exchange, perp, key, *stats))
            if has.get("fetchLongShortRatioHistory"):
                frames.append(ccxt_derivatives.fetch_long_short(exchange, perp, key, *stats))
            frames.append(ccxt_derivatives.fetch_taker(exchange, perp, key, *stats))
        source = f"ccxt:{exchange.id}"
        obs = with_basis(pl.concat(frames) if frames else empty_observations(), spot_bars)
        frame = assemble(obs, parts, now, source)
        lacking = [
            name
            for name, present in (
                ("open_interest_usd", has.get("fetchOpenInterestHistory")),
                ("long_short_ratio", has.get("fetchLongShortRatioHistory")),
                ("taker_buy_volume, taker_sell_volume", ccxt_derivatives.has_taker_endpoint(exchange)),
            )
            if not present
        ]
        meta = {}
        for part in parts:
            entry = {"source": f"{source}:swap", "stats_history_from": floor.isoformat()}
            note = ccxt_derivatives.history_note(part.start, floor, exchange.id, self.stats_history_days)
            if note:
                entry["stats_note"] = note
            if lacking:
                entry["not_served_by_exchange"] = ", ".join(lacking)
            meta[part] = entry
        return frame, meta


class FileDropDerivatives(DerivativesSource):
    """Derivatives from freqtrade/ccxt downloads dropped in a folder (``../shared/data`` layout).

    Funding and mark files must exist. The statistics file is optional: when its name is empty
    or the file is not in the folder, open interest, long/short and taker are missing rows
    (coverage 0) and the partition metadata says why. The shipped statistics file covers SOL
    in 2026-05/06 only, so other symbols and periods show those metrics missing too, which is
    the truth.
    """

    folder: str
    funding_file: str = "binance_usdm_funding_rate.parquet"
    mark_file: str = "binance_usdm_mark_1h.parquet"
    stats_file: str = "binance_solusdt_perp_oi_lsr_taker_1h.parquet"
    source_name: str = "binance-usdm"

    def fetch(self, parts, now, spot_bars):
        perps = {Symbol.from_key(s).perp: s for s in {p.symbol for p in parts}}
        start, end = min(p.start for p in parts), max(p.end for p in parts)
        source = f"file:{self.source_name}"
        files = {name: columns for name, columns in ((self.funding_file, FUNDING_COLUMNS), (self.mark_file, MARK_COLUMNS)) if name}
        stats_absent = self._stats_absent()
        if not stats_absent:
            files[self.stats_file] = STAT_COLUMNS
        frames = [read_metric_file(Path(self.folder) / name, columns, perps, start, end, source) for name, columns in files.items()]
        obs = with_basis(pl.concat(frames) if frames else empty_observations(), spot_bars)
        frame = assemble(obs, parts, now, source)
        meta = {p: {"source": source, "files": ", ".join(files)} for p in parts}
        if stats_absent:
            for entry in meta.values():
                entry["not_provided"] = ", ".join(STAT_METRICS)
                entry["not_provided_why"] = stats_absent
        return frame, meta

    def _stats_absent(self) -> str:
        """Why the optional statistics file is not read, or "" when it is."""
        if not self.stats_file:
            return "no statistics file configured"
        if not (Path(self.folder) / self.stats_file).exists():
            return f"{self.stats_file} is not in {self.folder}"
        return ""


class BundleDerivatives(DerivativesSource):
    """Derivatives from bundles unpacked by ``quant-assets bundle import`` (no network).

    A bundle exported mid-day may hold rows not yet available on this clock (dropped), and
    hours that closed since the export have no row yet (flagged missing).
    """

    bundles_root: str

    def fetch(self, parts, now, spot_bars):
        frame, meta = UnpackedBundles(self.bundles_root).read_with_provenance(DERIVATIVES_ASSET, parts)
        return complete_stored(frame, parts, now, source="bundle"), meta
