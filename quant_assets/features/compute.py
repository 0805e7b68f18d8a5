"""The feature computation: pure polars, vectorised across symbols, days and samples.

``compute_features(bars, derivatives, latents, decision_times)`` takes upstream frames keyed
by a ``series`` column and returns one row per (series, decision time ``t``) in the order of
the contract. Every feature partition is its own series holding a copy of exactly the
upstream days it reads (``D-1`` and ``D``), so a partition's values never depend on which
other partitions share its run, and the prefix-invariance recompute (same series, inputs
truncated at ``t``) must reproduce them bit for bit.

Time rules, all trailing:

- bars: a bar is usable at ``t`` iff its ``available_at <= t``; the bar "at t" is the one
  that closes at ``t``. Windows are counted on the complete 5m grid of the series, so a gap
  makes every window over it incomplete, and an incomplete window gives null + flag.
- derivatives: as-of join (backward) on ``available_at`` per (series, metric), skipping
  slots the source marks missing; a value older than its metric's max age is missing.
  A partition reads the derivatives of days D-1..D+1 (by event time, see
  ``inputs.AHEAD_DAYS``), cut at its last decision time: at t = D+1 00:00 a funding stamped
  exactly at midnight (day D+1's partition) is known, and used with age 0.
- text: trailing sums over the buckets with ``available_at`` in ``(t - w, t]``; a window
  that lacks buckets is missing. Latents are averaged only over buckets sharing the latest
  bucket's projection (coordinates of different projections do not mix).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from quant_assets.derivatives.frame import BASIS, FUNDING, LONG_SHORT, OPEN_INTEREST, TAKER_BUY, TAKER_SELL
from quant_assets.features import contract
from quant_assets.features.inputs import (
    BARS,
    DERIVATIVES,
    LATENT_COLUMNS,
    LOOKBACK_DAYS,
    SERIES,
    TEXT_LATENTS,
    UPSTREAM,
    Inputs,
    decision_grid,
    per_series,
    read_plan,
    series_name,
)
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR, TS_DTYPE

BAR_WINDOWS = {"5m": 1, "15m": 3, "1h": 12, "4h": 48, "1d": 288}
FLAT = 1e-12  # below this a dispersion is "flat": z-score 0, RSI 50

FUNDING_MAX_AGE = timedelta(hours=8)
HOURLY_MAX_AGE = timedelta(hours=1)

# The derivatives metrics each feature is computed from: a row's asof_derivatives is the
# newest available_at among the metrics behind its present features (the audit re-derives it).
DERIVATIVE_INPUTS: dict[str, tuple[str, ...]] = {
    "funding_rate": (FUNDING,),
    "basis_bps": (BASIS,),
    "oi_change_1h": (OPEN_INTEREST,),
    "oi_change_4h": (OPEN_INTEREST,),
    "long_short_ratio": (LONG_SHORT,),
    "taker_imbalance_1h": (TAKER_BUY, TAKER_SELL),
}
_PREFIX = {FUNDING: "fund_", BASIS: "basis_", OPEN_INTEREST: "oi_", LONG_SHORT: "lsr_", TAKER_BUY: "buy_", TAKER_SELL: "sell_"}


def rolling(expr: pl.Expr, how: str, n: int) -> pl.Expr:
    """The one place a row window is built: trailing ``n`` rows, full windows only."""
    return getattr(expr, f"rolling_{how}")(n)


def _over(expr: pl.Expr) -> pl.Expr:
    return expr.over(SERIES)


# ---- bars ------------------------------------------------------------------------------
def bar_grid(bars: pl.DataFrame, decision_times: pl.DataFrame) -> pl.DataFrame:
    """Each series' 5m grid of close times from its history start to its last decision time.

    History starts ``LOOKBACK_DAYS`` before the day of the series' first decision time: the
    same start for a partition and for any prefix of it.
    """
    spans = decision_times.group_by(SERIES).agg(
        start=(pl.col("t").min() - BAR).dt.truncate("1d") - timedelta(days=LOOKBACK_DAYS) + BAR,
        end=pl.col("t").max(),
    )
    grid = spans.select(SERIES, t=pl.datetime_ranges("start", "end", "5m")).explode("t")
    closed = bars.select(
        SERIES,
        pl.col("available_at").alias("t"),
        pl.col("available_at").alias("_bar_available_at"),
        "high",
        "low",
        "close",
        "volume",
    )
    return grid.join(closed, on=[SERIES, "t"], how="left").sort(SERIES, "t")


def bar_features(bars: pl.DataFrame, decision_times: pl.DataFrame) -> pl.DataFrame:
    g = bar_grid(bars, decision_times)
    c, h, lo = pl.col("close"), pl.col("high"), pl.col("low")
    g = g.with_columns(
        _present=c.is_not_null().cast(pl.Int32),
        _lr=_over((c / c.shift(1)).log()),
        _x=pl.col("volume").log1p(),
        _d=_over(c.diff()),
    ).with_columns(
        _lr2=pl.col("_lr") ** 2,
        _up=pl.col("_d").clip(lower_bound=0.0),
        _dn=(-pl.col("_d")).clip(lower_bound=0.0),
    )
    complete = {w: _over(rolling(pl.col("_present"), "sum", n + 1)).fill_null(0) == n + 1 for w, n in BAR_WINDOWS.items()}

    def ret(n):
        return _over((c / c.shift(n)).log())

    def rv(n):
        return _over(rolling(pl.col("_lr2"), "sum", n)).sqrt()

    def rng(n):
        if n == 1:
            return (h / lo).log()
        return (_over(rolling(h, "max", n)) / _over(rolling(lo, "min", n))).log()

    def volz(n):
        mean, std = _over(rolling(pl.col("_x"), "mean", n)), _over(rolling(pl.col("_x"), "std", n))
        return pl.when(std > FLAT).then((pl.col("_x") - mean) / std).otherwise(0.0)

    def rsi(n):
        up, dn = _over(rolling(pl.col("_up"), "sum", n)), _over(rolling(pl.col("_dn"), "sum", n))
        return pl.when(up + dn > FLAT * c).then(100.0 * up / (up + dn)).otherwise(50.0)

    values = {
        "ret_5m": ret(1), "range_5m": rng(1),
        "ret_15m": ret(3),
        "ret_1h": ret(12), "rv_1h": rv(12), "range_1h": rng(12), "volz_1h": volz(12), "rsi_1h": rsi(12),
        "ret_4h": ret(48), "rv_4h": rv(48), "range_4h": rng(48), "rsi_4h": rsi(48),
        "ret_1d": ret(288), "rv_1d": rv(288), "range_1d": rng(288), "volz_1d": volz(288),
    }  # fmt: skip
    flags = {f"bars_{w}_missing": ~complete[w] for w in BAR_WINDOWS}
    by_name = {f.name: f for f in contract.FEATURES}
    exprs = [pl.when(~pl.col(by_name[name].flag)).then(expr).otherwise(None).alias(name) for name, expr in values.items()]
    out = g.with_columns(**flags).with_columns(exprs)
    out = out.with_columns(asof_bars=pl.when(~pl.col("bars_5m_missing")).then(pl.col("_bar_available_at")).otherwise(None))
    keep = [SERIES, "t", "asof_bars", *values, *flags]
    return decision_times.join(out.select(keep), on=[SERIES, "t"], how="left")


# ---- derivatives -----------------------------------------------------------------------
def usable_rows(derivatives: pl.DataFrame, metric: str) -> pl.DataFrame:
    """The records of ``metric`` that carry a value (not a slot the source marks missing)."""
    return derivatives.filter(pl.col("metric") == metric, ~pl.col("is_missing"), pl.col("value").is_not_null()).select(
        SERIES, "event_time", "available_at", "value"
    )


def latest_available(times: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """For each (series, t) of ``times`` (sorted by t), the newest row with ``available_at <= t``."""
    return times.join_asof(
        rows.sort("available_at"),
        left_on="t",
        right_on="available_at",
        by=SERIES,
        strategy="backward",
        coalesce=False,
        check_sortedness=False,  # sorted by the join key above; `by` groups keep that order
    )


def _asof(times: pl.DataFrame, rows: pl.DataFrame, max_age: timedelta, prefix: str) -> pl.DataFrame:
    """Latest row with ``available_at <= t`` per series; nulled when older than ``max_age``."""
    joined = latest_available(times, rows)
    fresh = (pl.col("t") - pl.col("available_at")) <= max_age
    cols = [c for c in rows.columns if c not in (SERIES,)]
    return joined.select(SERIES, "t", *[pl.when(fresh).then(pl.col(c)).otherwise(None).alias(f"{prefix}{c}") for c in cols])


def derivative_features(derivatives: pl.DataFrame, decision_times: pl.DataFrame) -> pl.DataFrame:
    times = decision_times.select(SERIES, "t").sort("t")
    keys = [SERIES, "t"]

    funding = _asof(times, usable_rows(derivatives, FUNDING), FUNDING_MAX_AGE, _PREFIX[FUNDING])
    basis = _asof(times, usable_rows(derivatives, BASIS), HOURLY_MAX_AGE, _PREFIX[BASIS])
    lsr = _asof(times, usable_rows(derivatives, LONG_SHORT), HOURLY_MAX_AGE, _PREFIX[LONG_SHORT])
    buy = _asof(times, usable_rows(derivatives, TAKER_BUY), HOURLY_MAX_AGE, _PREFIX[TAKER_BUY])
    sell = _asof(times, usable_rows(derivatives, TAKER_SELL), HOURLY_MAX_AGE, _PREFIX[TAKER_SELL])
    oi_rows = usable_rows(derivatives, OPEN_INTEREST)
    for hours in (1, 4):
        earlier = oi_rows.select(SERIES, (pl.col("event_time") + timedelta(hours=hours)).alias("event_time"), pl.col("value").alias(f"v{hours}"))
        oi_rows = oi_rows.join(earlier, on=[SERIES, "event_time"], how="left")
    oi = _asof(times, oi_rows, HOURLY_MAX_AGE, _PREFIX[OPEN_INTEREST])

    j = times
    for part in (funding, basis, lsr, buy, sell, oi):
        j = j.join(part, on=keys, how="left")

    def change(h):
        prev = pl.col(f"oi_v{h}")
        return pl.when(prev.is_not_null() & (prev != 0)).then(pl.col("oi_value") / prev - 1.0)

    same_hour = pl.col("buy_event_time") == pl.col("sell_event_time")
    total = pl.col("buy_value") + pl.col("sell_value")
    imbalance = pl.when(same_hour & pl.col("buy_value").is_not_null() & pl.col("sell_value").is_not_null()).then(
        pl.when(total > 0).then((pl.col("buy_value") - pl.col("sell_value")) / total).otherwise(0.0)
    )
    j = j.with_columns(
        funding_rate=pl.col("fund_value"),
        funding_age_h=(pl.col("t") - pl.col("fund_available_at")).dt.total_microseconds() / 3.6e9,
        basis_bps=pl.col("basis_value"),
        oi_change_1h=change(1),
        oi_change_4h=change(4),
        long_short_ratio=pl.col("lsr_value"),
        taker_imbalance_1h=imbalance,
    )
    used = {
        f"{prefix}available_at": pl.any_horizontal([pl.col(f).is_not_null() for f, ms in DERIVATIVE_INPUTS.items() if m in ms])
        for m, prefix in _PREFIX.items()
    }
    j = j.with_columns(
        asof_derivatives=pl.max_horizontal([pl.when(cond).then(pl.col(c)) for c, cond in used.items()]),
        funding_missing=pl.col("funding_rate").is_null(),
        basis_missing=pl.col("basis_bps").is_null(),
        oi_1h_missing=pl.col("oi_change_1h").is_null(),
        oi_4h_missing=pl.col("oi_change_4h").is_null(),
        long_short_missing=pl.col("long_short_ratio").is_null(),
        taker_missing=pl.col("taker_imbalance_1h").is_null(),
    )
    names = contract.source_columns("derivatives")
    return j.select(*keys, "asof_derivatives", *names)


# ---- text ------------------------------------------------------------------------------
TEXT_WINDOWS = {"1h": 12, "24h": 288}


def text_features(latents: pl.DataFrame, decision_times: pl.DataFrame) -> pl.DataFrame:
    def roll(expr, window, by=(SERIES,)):
        return expr.rolling_sum_by("available_at", window_size=window).over(list(by))

    lat = latents.sort(SERIES, "available_at").with_columns(_one=pl.lit(1, dtype=pl.Int64))
    stats = [roll(pl.col("_one"), "1h").alias("_n_1h"), roll(pl.col("_one"), "1d").alias("_n_24h")]
    for col in ("post_count", "comment_count", "market_post_count"):
        short = col.replace("_count", "")
        stats.append(roll(pl.col(col), "1h").alias(f"_{short}_1h"))
        stats.append(roll(pl.col(col), "1d").alias(f"_{short}_24h"))
    for col in ("post_score_observed_mean", "post_num_comments_observed_mean"):
        stats.append(roll(pl.col(col).fill_null(0.0), "1d").alias(f"_{col}_sum"))
        stats.append(roll(pl.col(col).is_not_null().cast(pl.Int64), "1d").alias(f"_{col}_n"))
    by_projection = (SERIES, "projection_id")
    for tower in ("post", "comment"):
        present = ~pl.col(f"{tower}_latent_missing") & pl.col(f"{tower}_z_00").is_not_null()
        stats.append(roll(present.cast(pl.Int64), "1d", by_projection).alias(f"_{tower}_lat_n"))
        stats += [
            roll(pl.when(present).then(pl.col(c).cast(pl.Float64)).otherwise(0.0), "1d", by_projection).alias(f"_{c}_sum")
            for c in LATENT_COLUMNS
            if c.startswith(tower)
        ]
    lat = lat.with_columns(stats)
    keep = [c for c in lat.columns if c.startswith("_") and c != "_one"] + [
        SERIES,
        "available_at",
        "projection_fit_end",
    ]
    times = decision_times.select(SERIES, "t").sort("t")
    j = latest_available(times, lat.select(keep))
    fresh = pl.col("available_at") == pl.col("t")  # the bucket that closes at t
    ok_1h = fresh & (pl.col("_n_1h") == TEXT_WINDOWS["1h"])
    ok_24h = fresh & (pl.col("_n_24h") == TEXT_WINDOWS["24h"])
    feats = {
        "text_post_count_1h": pl.when(ok_1h).then(pl.col("_post_1h")),
        "text_comment_count_1h": pl.when(ok_1h).then(pl.col("_comment_1h")),
        "text_market_post_count_1h": pl.when(ok_1h).then(pl.col("_market_post_1h")),
        "text_post_count_24h": pl.when(ok_24h).then(pl.col("_post_24h")),
        "text_comment_count_24h": pl.when(ok_24h).then(pl.col("_comment_24h")),
        "text_market_post_count_24h": pl.when(ok_24h).then(pl.col("_market_post_24h")),
        "text_comment_post_ratio_24h": pl.when(ok_24h & (pl.col("_post_24h") > 0)).then(pl.col("_comment_24h") / pl.col("_post_24h")),
    }
    for col, name in (
        ("post_score_observed_mean", "text_post_score_mean_24h"),
        ("post_num_comments_observed_mean", "text_post_num_comments_mean_24h"),
    ):
        n = pl.col(f"_{col}_n")
        feats[name] = pl.when(ok_24h & (n > 0)).then(pl.col(f"_{col}_sum") / n)
    for tower in ("post", "comment"):
        n = pl.col(f"_{tower}_lat_n")
        for c in LATENT_COLUMNS:
            if c.startswith(tower):
                feats[f"text_{c}"] = pl.when(ok_24h & (n > 0)).then(pl.col(f"_{c}_sum") / n).cast(pl.Float32)
    j = j.with_columns(**feats)
    j = j.with_columns(
        text_1h_missing=pl.col("text_post_count_1h").is_null(),
        text_24h_missing=pl.col("text_post_count_24h").is_null(),
        text_ratio_missing=pl.col("text_comment_post_ratio_24h").is_null(),
        text_engagement_missing=pl.col("text_post_score_mean_24h").is_null(),
        text_post_latent_missing=pl.col("text_post_z_00").is_null(),
        text_comment_latent_missing=pl.col("text_comment_z_00").is_null(),
    )
    any_latent = ~pl.col("text_post_latent_missing") | ~pl.col("text_comment_latent_missing")
    j = j.with_columns(
        asof_text=pl.when(~pl.col("text_1h_missing")).then(pl.col("available_at")),
        text_projection_fit_end=pl.when(any_latent).then(pl.col("projection_fit_end")),
    )
    names = contract.source_columns("text")
    return j.select(SERIES, "t", "asof_text", "text_projection_fit_end", *names)


# ---- the whole row ---------------------------------------------------------------------
def compute_features(
    bars: pl.DataFrame,
    derivatives: pl.DataFrame,
    latents: pl.DataFrame,
    decision_times: pl.DataFrame,
) -> pl.DataFrame:
    """One row per (series, t) of ``decision_times``: ``series``, then the contract's columns."""
    times = decision_times.select(SERIES, pl.col("t").cast(TS_DTYPE)).unique().sort(SERIES, "t")
    out = (
        times.join(bar_features(bars, times), on=[SERIES, "t"], how="left")
        .join(derivative_features(derivatives, times), on=[SERIES, "t"], how="left")
        .join(text_features(latents, times), on=[SERIES, "t"], how="left")
    )
    return out.select(SERIES, *[pl.col(n).cast(t) for n, t in contract.COLUMNS.items()]).sort(SERIES, "t")


# ---- partitions ------------------------------------------------------------------------
UpstreamDays = dict[DaySymbol, dict[str, list[date]]]


def _plans(items: list[tuple[str, DaySymbol, datetime]], upstream_days: UpstreamDays) -> dict[str, pl.DataFrame]:
    """Per upstream asset, the read plan of every (series, partition, cutoff) item."""
    plans = {}
    for asset in UPSTREAM:
        rows = [(series, part.symbol, day, cutoff) for series, part, cutoff in items for day in upstream_days[part].get(asset, [])]
        plans[asset] = read_plan(rows)
    return plans


def _series_inputs(inputs: Inputs, plans: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    return {asset: per_series(asset, inputs.frame(asset), plans[asset]) for asset in UPSTREAM}


def partition_inputs(inputs: Inputs, parts: list[DaySymbol], upstream_days: UpstreamDays) -> dict[str, pl.DataFrame]:
    """Per upstream asset, what each partition reads (its series is ``str(part)``): its
    ``upstream_days``, cut at its last decision time."""
    return _series_inputs(inputs, _plans([(series_name(p), p, p.end) for p in parts], upstream_days))


def features_for_partitions(
    inputs: Inputs,
    parts: list[DaySymbol],
    upstream_days: UpstreamDays,
    now: datetime | None = None,
    compute=None,
) -> pl.DataFrame:
    """Feature rows of ``parts`` (columns ``partition`` + contract), each partition reading
    only its ``upstream_days``, cut at its last decision time; decision times after ``now``
    are not produced."""
    compute = compute or compute_features
    frames = partition_inputs(inputs, parts, upstream_days)
    times = pl.DataFrame(
        {SERIES: [series_name(p) for p in parts for _ in decision_grid(p, now)],
         "t": [t for p in parts for t in decision_grid(p, now)]},
        schema={SERIES: pl.String(), "t": TS_DTYPE},
    )  # fmt: skip
    out = compute(frames[BARS], frames[DERIVATIVES], frames[TEXT_LATENTS], times)
    return out.rename({SERIES: "partition"})


def recompute_at(
    inputs: Inputs,
    samples: list[tuple[DaySymbol, datetime]],
    upstream_days: UpstreamDays,
    compute=None,
) -> pl.DataFrame:
    """The features of each (partition, t) recomputed from its inputs truncated at ``t``.

    Columns: ``partition``, then the contract's columns.
    """
    compute = compute or compute_features
    items = [(series_name(p, t), p, t) for p, t in samples]
    frames = _series_inputs(inputs, _plans(items, upstream_days))
    times = pl.DataFrame(
        {SERIES: [s for s, _, _ in items], "t": [t for _, _, t in items]},
        schema={SERIES: pl.String(), "t": TS_DTYPE},
    )
    out = compute(frames[BARS], frames[DERIVATIVES], frames[TEXT_LATENTS], times)
    back = pl.DataFrame(
        {SERIES: [s for s, _, _ in items], "partition": [str(p) for _, p, _ in items]},
        schema={SERIES: pl.String(), "partition": pl.String()},
    ).unique(SERIES)
    return out.join(back, on=SERIES, how="left").select("partition", *contract.COLUMN_NAMES)
