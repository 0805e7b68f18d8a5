"""A file drop for the study tests, in ../shared/data's layout, cut from what the repository
ships: bars and derivatives of the sample bundle (real Binance data) turned back into the
exchange files the ``file`` sources read, and the Reddit fixture (text from October)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path

import polars as pl

from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, days_between
from quant_assets_tests import lakeseed
from quant_assets_tests.conftest import FIXTURES


def file_drop(folder: Path, first: date, last: date, symbols: list[str]) -> Path:
    """``folder`` holding binance_spot_5m, funding, mark 1h and the Reddit files for first..last."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        lakeseed.copy_bundle_assets(Path(tmp), first, last, symbols)
        lake = ParquetLake(tmp)
        parts = [DaySymbol(d, s) for d in days_between(first, last) for s in symbols]
        bars = lake.read_many(BARS_ASSET, parts)
        derivatives = lake.read_many(DERIVATIVES_ASSET, parts).filter(~pl.col("is_missing"))
    spot = pl.col("symbol").str.replace("-", "/")
    bars.select(symbol=spot, ts="ts", open="open", high="high", low="low", close="close", volume="volume").write_parquet(
        folder / "binance_spot_5m.parquet"
    )
    perp = spot + ":USDT"
    funding = derivatives.filter(pl.col("metric") == "funding_rate")
    funding.select(symbol=perp, ts="event_time", funding_rate="value").write_parquet(folder / "binance_usdm_funding_rate.parquet")
    mark = derivatives.filter(pl.col("metric") == "mark_close")  # the close is all the bundle kept of the candle
    mark.select(symbol=perp, ts="event_time", open="value", high="value", low="value", close="value").write_parquet(
        folder / "binance_usdm_mark_1h.parquet"
    )
    for name in ("reddit_crypto_posts.parquet", "reddit_crypto_comments.parquet"):
        shutil.copy(FIXTURES / "reddit" / name, folder / name)
    return folder
