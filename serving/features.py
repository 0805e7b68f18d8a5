"""The feature row at tick time, computed by the feature_matrix code itself.

No feature is re-implemented here: the row of decision time ``t`` (the close of the newest
closed bar) is ``quant_assets.features.compute.recompute_at`` over the upstream partitions
the feature_matrix partition of ``t`` reads (``inputs.mapped_days``), cut at ``t`` — the same
function the prefix-invariance audit uses to show that a row computed from inputs truncated
at ``t`` equals the materialized one. Bars fetched since the lake was last written (a live
tick) are appended to the lake's bars before the cut, newest copy of a bar winning; the paper
venue sees them too (``bar``), so an order decided on a fetched bar fills on the next one.

Upstream partitions are cached by file (path, size, mtime): a tick re-reads only files that
changed, which keeps a tick of a ten-pair universe in milliseconds.
"""

from __future__ import annotations

import os
from datetime import datetime

import polars as pl

from quant_assets.features import contract
from quant_assets.features.compute import recompute_at
from quant_assets.features.inputs import BARS, UPSTREAM, Inputs, conform, mapped_days
from quant_assets.lake.location import is_local
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR


def partition_of(t: datetime, symbol: str) -> DaySymbol:
    """The feature_matrix partition whose decision grid holds ``t`` (``D 00:05 .. D+1 00:00``)."""
    return DaySymbol((t - BAR).date(), symbol)


class FeatureServer:
    def __init__(self, store: ParquetLake):
        self.store = store
        self._cache: dict[tuple[str, DaySymbol], tuple[tuple, pl.DataFrame | None]] = {}
        self.local = is_local(store.root)
        self._paths: dict = {}  # building a UPath costs ~0.1 ms; a tick asks ~70 times
        self._fetched = conform(BARS, None)  # the bars the last tick fetched beyond the lake

    def _path(self, asset: str, part: DaySymbol):
        path = self._paths.get((asset, part))
        if path is None:
            path = self.store.partition_path(asset, part)
            path = self._paths[asset, part] = str(path) if self.local else path
        return path

    def _stamp(self, path) -> tuple | None:
        """What changes when a partition is rewritten: size and modification time; None when absent.
        Local: one stat call. Object store: one HEAD; the ETag changes with the bytes, where
        Last-Modified (whole seconds) could miss a rewrite within the same second."""
        try:
            if self.local:
                st = os.stat(path)
                return st.st_size, st.st_mtime_ns
            info = path.fs.info(path.path)
            return info.get("size"), info.get("ETag") or info.get("LastModified")
        except FileNotFoundError:
            return None

    def _read(self, asset: str, part: DaySymbol) -> pl.DataFrame | None:
        path = self._path(asset, part)
        stamp = self._stamp(path)
        if stamp is None:
            self._cache.pop((asset, part), None)
            return None
        cached = self._cache.get((asset, part))
        if cached is None or cached[0] != stamp:
            frame = pl.read_parquet(path if self.local else self.store.read_bytes(asset, part))
            cached = (stamp, conform(asset, frame.with_columns(symbol=pl.lit(part.symbol))))
            self._cache[asset, part] = cached
        return cached[1]

    def inputs(self, symbols: list[str], t: datetime, fetched_bars: pl.DataFrame | None = None) -> tuple[Inputs, list[DaySymbol]]:
        parts = [partition_of(t, s) for s in symbols]
        frames = {}
        for asset in UPSTREAM:
            read = [self._read(asset, DaySymbol(d, p.symbol)) for p in parts for d in mapped_days(p.day, asset)]
            present = [f for f in read if f is not None and f.height]
            frames[asset] = pl.concat(present, how="vertical") if present else None
        if fetched_bars is not None and fetched_bars.height:
            lake_bars = conform(BARS, frames[BARS])
            self._fetched = conform(BARS, fetched_bars)
            frames[BARS] = pl.concat([lake_bars, self._fetched], how="vertical").unique(["symbol", "ts"], keep="last", maintain_order=True)
        return Inputs(*(frames[a] for a in UPSTREAM)), parts

    def rows(self, symbols: list[str], t: datetime, fetched_bars: pl.DataFrame | None = None) -> pl.DataFrame:
        """One contract row per symbol at decision time ``t``: ``symbol`` then the contract's columns."""
        return self.snapshot(symbols, t, fetched_bars)[0]

    def snapshot(self, symbols: list[str], t: datetime, fetched_bars: pl.DataFrame | None = None) -> tuple[pl.DataFrame, dict[str, float]]:
        """``rows`` and, per symbol, the close of the newest bar available at ``t`` (the marks)."""
        inputs, parts = self.inputs(symbols, t, fetched_bars)
        upstream_days = {p: {a: mapped_days(p.day, a) for a in UPSTREAM} for p in parts}
        rows = recompute_at(inputs, [(p, t) for p in parts], upstream_days)
        symbol = pl.col("partition").str.split("|").list.get(1)
        closes = inputs.bars.filter(pl.col("available_at") <= t).sort("available_at").group_by("symbol").agg(pl.col("close").last())
        return rows.select(symbol.alias("symbol"), *contract.COLUMN_NAMES), dict(closes.iter_rows())

    def bar(self, symbol: str, open_time: datetime, now: datetime) -> pl.DataFrame:
        """The bar of ``symbol`` opened at ``open_time`` if it had closed by ``now`` (0 or 1 row):
        the lake's, else one fetched since."""
        frame = self._read(BARS, DaySymbol(open_time.date(), symbol))
        closed = (pl.col("ts") == open_time) & (pl.col("available_at") <= now)
        found = frame.filter(closed) if frame is not None else self._fetched.clear()
        return found if found.height else self._fetched.filter(closed & (pl.col("symbol") == symbol))
