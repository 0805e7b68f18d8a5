"""Planted oos_eval partitions for the gate tests: rows in oos_eval's schema, through the
real reference strategy and baselines, on a synthetic day whose labels a prediction knows
with a chosen skill (``synthetic_series.series``). A day's labels are shared by every series of a horizon.
Besides the model families, a day may hold the symbol's ``portfolio`` series (the combined
book serving would hold, on horizon ``PORTFOLIO_HORIZON``: no single one)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from quant_assets.evaluation import strategy
from quant_assets.evaluation.oos import ROW_SCHEMA
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets_tests.evaluation.synthetic_series import series

FAMILIES = ("lgbm", "mhnet")
SERVABLE = ("lgbm", "mhnet", "mean", "lgbm_no_text", "lgbm_no_derivatives")  # with the ablations
PORTFOLIO, PORTFOLIO_HORIZON = "portfolio", "all"
PLANTED_URI = "models:/m-planted"


def _rows(run: pl.DataFrame, family: str, horizon: str, day: date, model: bool) -> pl.DataFrame:
    fit_end = (
        pl.lit(None, ROW_SCHEMA["fit_end"]) if not model else pl.lit(day - timedelta(days=9)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    )
    return run.with_columns(
        family=pl.lit(family),
        horizon=pl.lit(horizon),
        label_net=pl.col("label") - 0.0022,
        model_uri=pl.lit(PLANTED_URI if model else None, pl.String),
        fit_end=fit_end,
    ).select([pl.col(c).cast(t) for c, t in ROW_SCHEMA.items()])


def planted_day(day: date, skills: dict[tuple[str, str], float], default_skill: float = 0.0, labelled: bool = True,
                families=FAMILIES, portfolio: float | None = None) -> pl.DataFrame:  # fmt: skip
    """oos_eval rows of ``day``: every family x horizon with its skill (``skills``, else
    ``default_skill``) and the three baselines; with ``portfolio`` (its skill), the portfolio
    series too. ``labelled=False``: the day's last hour has no labels yet (a partial day)."""
    frames = []
    if portfolio is not None:
        f = series(day, 1, skill=portfolio, seed=day.toordinal() * 10 + 9)
        run = strategy.reference(f, horizon=HORIZONS["1h"])
        frames.append(
            _rows(run, PORTFOLIO, PORTFOLIO_HORIZON, day, True).with_columns(label=pl.lit(None, pl.Float64), label_net=pl.lit(None, pl.Float64))
        )
    for j, h in enumerate(HORIZON_NAMES):
        seed = day.toordinal() * 10 + j
        for family in families:
            f = series(day, 1, skill=skills.get((family, h), default_skill), seed=seed)
            frames.append(_rows(strategy.reference(f, horizon=HORIZONS[h]), family, h, day, True))
        base = series(day, 1, skill=0.0, seed=seed)
        for name in strategy.BASELINES:
            frames.append(_rows(strategy.baseline(base, name, horizon=HORIZONS[h]), name, h, day, False))
    rows = pl.concat(frames)
    if not labelled:
        end = pl.col("t").max() - timedelta(hours=1)
        rows = rows.with_columns(label=pl.when(pl.col("t") > end).then(None).otherwise("label"))
    return rows


def planted_flags(day: date, missing: dict[str, float] | None = None) -> pl.DataFrame:
    """A day of feature_matrix missing flags (288 rows): for each source, its first
    ``missing[source]`` share of rows flagged missing (a source's flags together)."""
    from quant_assets.features.contract import FLAGS_BY_SOURCE

    n = 288
    return pl.DataFrame(
        {flag: [i < round(n * (missing or {}).get(source, 0.0)) for i in range(n)] for source, flags in FLAGS_BY_SOURCE.items() for flag in flags}
    )


def known_at(rows: pl.DataFrame, moment: datetime) -> pl.DataFrame:
    """``rows`` as oos_eval stored them at ``moment``: a label not available yet (t + h later)
    is null, and its decision not evaluable."""
    step = pl.col("horizon").replace_strict(dict(HORIZONS), default=None, return_dtype=pl.Duration("us"))
    unknown = (pl.col("t") + step) > moment
    return rows.with_columns(
        label=pl.when(unknown).then(None).otherwise("label"),
        evaluable=pl.when(unknown).then(False).otherwise("evaluable"),
        pnl=pl.when(unknown).then(0.0).otherwise("pnl"),
    )


def planted_labels(day: date) -> pl.DataFrame:
    """The labels partition of ``day`` as the labels asset stores it once complete: every
    label known at ``t + h`` (``label_available_at_<h>``), none missing."""
    from quant_assets.labels.forward import LABEL_SCHEMA, available_column, gross_column, missing_column, net_column
    from quant_assets_tests.evaluation.synthetic_series import grid

    t = grid(day, 1)
    columns = {"t": t, "close_t": [100.0] * len(t)}
    for h in HORIZON_NAMES:
        columns |= {
            gross_column(h): [0.001] * len(t),
            net_column(h): [-0.0012] * len(t),
            available_column(h): [x + HORIZONS[h] for x in t],
            missing_column(h): [False] * len(t),
        }
    return pl.DataFrame(columns).cast(LABEL_SCHEMA)
