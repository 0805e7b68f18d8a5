"""Upstream frames in their lake schemas, built from the real fixture slice.

The fixture (``quant_assets_tests/fixtures/features``) is a small cut of ../shared/data:
Binance spot 5m bars, USD-M funding and 1h mark prices for BTC and ETH, Reddit posts and
comments. From it this module builds exactly what the upstream assets store:

- ``market_bars``: ts, available_at = ts + 5m, OHLCV, source;
- ``derivatives`` (long): funding_rate (available at its event time), mark_close and
  basis_bps (hourly, available at event_time + 1h; basis against the spot bar closing at
  the same instant), and open interest / long-short / taker rows marked ``is_missing`` for
  every hour (the 2025 source has none of them);
- ``text_latents``: 288 buckets per day with real post/comment counts and engagement that is
  present only when the post's scrape happened by the bucket's end. Latents come from a
  small deterministic stand-in for the text engineer's pipeline: a pseudo-embedding per item
  (seeded by its id) and a PCA projection fitted on the 7 days before the partition day
  (``fit="before"``) or, for the planted leak, on the whole period (``fit="whole"``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from quant_assets.features.contract import LATENT_DIM
from quant_assets.features.inputs import LATENTS_SCHEMA
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.timegrid import BAR, TS_DTYPE

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "features"
SYMBOLS = ["BTC-USDT", "ETH-USDT"]
OCT = (date(2025, 10, 5), date(2025, 10, 8))
NOV = (date(2025, 11, 25), date(2025, 11, 28))

SYMBOL_SUBREDDITS = {"BTC": {"bitcoin", "btc", "bitcoinmarkets"}, "ETH": {"ethereum", "ethtrader", "ethfinance"}}
MENTIONS = {"BTC": re.compile(r"\b(btc|bitcoin)\b", re.I), "ETH": re.compile(r"\b(eth|ethereum|ether)\b", re.I)}
EMBED_DIM = 48


def _utc(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


@lru_cache(maxsize=None)
def _read(name: str) -> pl.DataFrame:
    return pl.read_parquet(FIXTURE / name)


def bars(symbols=SYMBOLS, days=OCT) -> pl.DataFrame:
    spot = _read("spot_5m.parquet")
    keys = {s.replace("-", "/"): s for s in symbols}
    return (
        spot.filter(pl.col("symbol").is_in(list(keys)), pl.col("ts") >= _utc(days[0]), pl.col("ts") < _utc(days[1]) + timedelta(days=1))
        .with_columns(
            symbol=pl.col("symbol").replace_strict(keys, return_dtype=pl.String), available_at=pl.col("ts") + BAR, source=pl.lit("binance-spot")
        )
        .select("symbol", "ts", "available_at", "open", "high", "low", "close", "volume", "source")
        .sort("symbol", "ts")
    )


def derivatives(symbols=SYMBOLS, days=OCT) -> pl.DataFrame:
    lo, hi = _utc(days[0]), _utc(days[1]) + timedelta(days=1)
    perps = {s.replace("-", "/") + ":USDT": s for s in symbols}
    funding = _read("funding_rate.parquet").filter(pl.col("symbol").is_in(list(perps)), pl.col("ts") >= lo, pl.col("ts") < hi)
    mark = _read("mark_1h.parquet").filter(pl.col("symbol").is_in(list(perps)), pl.col("ts") >= lo, pl.col("ts") < hi)
    spot = bars(symbols, days).select("symbol", pl.col("ts").alias("spot_ts"), pl.col("close").alias("spot_close"))
    rows = [
        funding.select(
            symbol=pl.col("symbol").replace_strict(perps, return_dtype=pl.String),
            metric=pl.lit("funding_rate"),
            event_time=pl.col("ts"),
            available_at=pl.col("ts"),
            value=pl.col("funding_rate"),
        )
    ]
    mark = mark.with_columns(symbol=pl.col("symbol").replace_strict(perps, return_dtype=pl.String))
    rows.append(
        mark.select(
            "symbol", metric=pl.lit("mark_close"), event_time=pl.col("ts"), available_at=pl.col("ts") + timedelta(hours=1), value=pl.col("close")
        )
    )
    basis = mark.with_columns(spot_ts=pl.col("ts") + timedelta(minutes=55)).join(spot, on=["symbol", "spot_ts"], how="left")
    rows.append(
        basis.select(
            "symbol",
            metric=pl.lit("basis_bps"),
            event_time=pl.col("ts"),
            available_at=pl.col("ts") + timedelta(hours=1),
            value=(pl.col("close") / pl.col("spot_close") - 1.0) * 1e4,
        )
    )
    hours = pl.datetime_range(lo, hi - timedelta(hours=1), "1h", eager=True, time_zone="UTC")
    for metric in ("open_interest_usd", "long_short_ratio", "taker_buy_volume", "taker_sell_volume"):
        for symbol in symbols:
            rows.append(
                pl.DataFrame({"event_time": hours}).select(
                    symbol=pl.lit(symbol), metric=pl.lit(metric), event_time=pl.col("event_time"),
                    available_at=pl.col("event_time") + timedelta(hours=1), value=pl.lit(None, dtype=pl.Float64),
                )
            )  # fmt: skip
    out = pl.concat([r.with_columns(pl.col("value").cast(pl.Float64)) for r in rows], how="vertical")
    return (
        out.with_columns(is_missing=pl.col("value").is_null(), source=pl.lit("binance-usdm"))
        .with_columns(pl.col("event_time").cast(TS_DTYPE), pl.col("available_at").cast(TS_DTYPE))
        .sort("symbol", "metric", "event_time")
    )


def sol_oi_derivatives() -> pl.DataFrame:
    """Real SOL open interest / long-short / taker rows (2026-06-01..02) in the derivatives schema."""
    raw = _read("sol_oi_lsr_taker_1h.parquet")
    cols = {
        "open_interest_usd": "oi_value_usd",
        "long_short_ratio": "global_long_short_account_ratio",
        "taker_buy_volume": "taker_buy_vol",
        "taker_sell_volume": "taker_sell_vol",
    }
    return pl.concat(
        [
            raw.select(
                symbol=pl.lit("SOL-USDT"), metric=pl.lit(m), event_time=pl.col("ts"),
                available_at=pl.col("ts") + timedelta(hours=1), value=pl.col(c), is_missing=pl.lit(False),
                source=pl.lit("binance-usdm"),
            )
            for m, c in cols.items()
        ]
    ).sort("metric", "event_time")  # fmt: skip


@lru_cache(maxsize=None)
def _embedding(item_id: str) -> np.ndarray:
    seed = int(hashlib.sha256(item_id.encode()).hexdigest()[:16], 16)
    return np.random.default_rng(seed).standard_normal(EMBED_DIM)


def _fit(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """PCA to LATENT_DIM dims (zero-padded when there are fewer items than dims)."""
    if not ids:
        return np.zeros(EMBED_DIM), np.zeros((EMBED_DIM, LATENT_DIM))
    x = np.stack([_embedding(i) for i in sorted(ids)])
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comp = np.zeros((EMBED_DIM, LATENT_DIM))
    k = min(LATENT_DIM, vt.shape[0])
    comp[:, :k] = vt[:k].T
    return mean, comp


def _linked(posts: pl.DataFrame, base: str) -> pl.Series:
    return posts["subreddit"].str.to_lowercase().is_in(list(SYMBOL_SUBREDDITS[base])) | posts["title"].map_elements(
        lambda t: bool(MENTIONS[base].search(t or "")), return_dtype=pl.Boolean
    )


def latents(symbols=SYMBOLS, days=OCT, fit: str = "before") -> pl.DataFrame:
    """``text_latents`` rows (with ``symbol``) for every day in ``days`` (inclusive)."""
    return _latents(tuple(symbols), tuple(days), fit).clone()


@lru_cache(maxsize=None)
def _latents(symbols, days, fit) -> pl.DataFrame:
    posts, comments = _read("reddit_posts.parquet"), _read("reddit_comments.parquet")
    period_end = _utc(days[1]) + timedelta(days=1)
    frames = []
    for symbol in symbols:
        base = symbol.split("-")[0]
        linked = posts.filter(_linked(posts, base))
        market = posts.filter(~_linked(posts, base) & ~posts["subreddit"].str.to_lowercase().is_in(
            [s for v in SYMBOL_SUBREDDITS.values() for s in v] + ["solana"]))  # fmt: skip
        linked_comments = comments.filter(pl.col("post_id").is_in(linked["post_id"].implode()))
        for day in days_between(*days):
            start = _utc(day)
            fit_end = start if fit == "before" else period_end
            fit_start = fit_end - timedelta(days=7) if fit == "before" else _utc(days[0]) - timedelta(days=7)
            towers = {}
            for tower, items, id_col in (("post", posts, "post_id"), ("comment", comments, "comment_id")):
                window = items.filter(pl.col("created_utc") >= fit_start, pl.col("created_utc") < fit_end)
                towers[tower] = _fit(window[id_col].to_list())
            grid = pl.datetime_range(start, start + timedelta(days=1) - BAR, BAR, eager=True, time_zone="UTC")
            frame = pl.DataFrame({"ts": grid}).with_columns(available_at=pl.col("ts") + BAR)

            def bucketed(items):
                return items.filter(pl.col("created_utc") >= start, pl.col("created_utc") < start + timedelta(days=1)).with_columns(
                    ts=pl.col("created_utc").dt.truncate("5m")
                )

            p, c, m = bucketed(linked), bucketed(linked_comments), bucketed(market)
            observed = p.filter(pl.col("scraped_at") <= pl.col("ts") + BAR)
            stats = (
                frame.join(p.group_by("ts").agg(post_count=pl.len()), on="ts", how="left")
                .join(c.group_by("ts").agg(comment_count=pl.len()), on="ts", how="left")
                .join(m.group_by("ts").agg(market_post_count=pl.len()), on="ts", how="left")
                .join(
                    observed.group_by("ts").agg(
                        post_score_observed_mean=pl.col("score").cast(pl.Float64).mean(),
                        post_num_comments_observed_mean=pl.col("num_comments").cast(pl.Float64).mean(),
                    ),
                    on="ts",
                    how="left",
                )
                .with_columns(pl.col("post_count", "comment_count", "market_post_count").fill_null(0).cast(pl.Int64))
                .with_columns(comment_post_ratio=pl.when(pl.col("post_count") > 0).then(pl.col("comment_count") / pl.col("post_count")))
                .sort("ts")
            )
            latent_cols = {}
            for tower, items, id_col in (("post", p, "post_id"), ("comment", c, "comment_id")):
                mean, comp = towers[tower]
                by_bucket: dict[datetime, list[np.ndarray]] = {}
                for ts, item in items.select("ts", id_col).iter_rows():
                    by_bucket.setdefault(ts, []).append((_embedding(item) - mean) @ comp)
                mat = np.full((len(grid), LATENT_DIM), np.nan)
                for i, ts in enumerate(grid.to_list()):
                    if ts in by_bucket:
                        mat[i] = np.mean(by_bucket[ts], axis=0)
                missing = np.isnan(mat[:, 0])
                latent_cols[f"{tower}_latent_missing"] = missing
                for k in range(LATENT_DIM):
                    latent_cols[f"{tower}_z_{k:02d}"] = pl.Series(mat[:, k], dtype=pl.Float64).fill_nan(None).cast(pl.Float32)
            frames.append(
                stats.with_columns(
                    symbol=pl.lit(symbol),
                    **{k: pl.Series(v) for k, v in latent_cols.items()},
                    projection_id=pl.lit(f"test-pca{LATENT_DIM}:{fit_start.isoformat()}..{fit_end.isoformat()}"),
                    projection_fit_start=pl.lit(fit_start).cast(TS_DTYPE),
                    projection_fit_end=pl.lit(fit_end).cast(TS_DTYPE),
                ).select([pl.col(k).cast(v) for k, v in LATENTS_SCHEMA.items()])
            )
    return pl.concat(frames).sort("symbol", "ts")


def split(frame: pl.DataFrame, day_column: str) -> list[tuple[DaySymbol, pl.DataFrame]]:
    keyed = frame.with_columns(_day=pl.col(day_column).dt.date())
    return [
        (DaySymbol(day, symbol), group.drop("_day", "symbol")) for (day, symbol), group in keyed.group_by(["_day", "symbol"], maintain_order=True)
    ]


def write_lake(
    root: str,
    symbols=SYMBOLS,
    days=OCT,
    *,
    bars_frame=None,
    derivatives_frame=None,
    latents_frame=None,
    with_derivatives: bool = True,
    with_text: bool = True,
) -> ParquetLake:
    """Write the upstream partitions of ``days`` into a lake at ``root``."""
    lake = ParquetLake(root)
    b = bars(symbols, days) if bars_frame is None else bars_frame
    for part, frame in split(b, "ts"):
        lake.write("market_bars", part, frame)
    if with_derivatives:
        d = derivatives(symbols, days) if derivatives_frame is None else derivatives_frame
        for part, frame in split(d, "event_time"):
            lake.write("derivatives", part, frame)
    if with_text:
        lat = latents(symbols, days) if latents_frame is None else latents_frame
        for part, frame in split(lat, "ts"):
            lake.write("text_latents", part, frame)
    return lake
