"""Planted oos_eval partitions for the gate tests: rows in oos_eval's schema, through the
real reference strategy and baselines, on a synthetic day whose labels a prediction knows
with a chosen skill (``kit.series``). A day's labels are shared by every series of a horizon."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from quant_assets.evaluation import strategy
from quant_assets.evaluation.oos import ROW_SCHEMA
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets_tests.evaluation.kit import series

FAMILIES = ("lgbm", "mhnet")
PLANTED_URI = "models:/m-planted"


def _rows(run: pl.DataFrame, family: str, horizon: str, day: date, model: bool) -> pl.DataFrame:
    fit_end = pl.lit(None, ROW_SCHEMA["fit_end"]) if not model else pl.lit(day - timedelta(days=9)).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return run.with_columns(
        family=pl.lit(family), horizon=pl.lit(horizon), label_net=pl.col("label") - 0.0022,
        model_uri=pl.lit(PLANTED_URI if model else None, pl.String), fit_end=fit_end,
    ).select([pl.col(c).cast(t) for c, t in ROW_SCHEMA.items()])


def planted_day(day: date, skills: dict[tuple[str, str], float], default_skill: float = 0.0, labelled: bool = True) -> pl.DataFrame:
    """oos_eval rows of ``day``: every family x horizon with its skill (``skills``, else
    ``default_skill``) and the three baselines. ``labelled=False``: the day's last hour has
    no labels yet (a partial day)."""
    frames = []
    for j, h in enumerate(HORIZON_NAMES):
        seed = day.toordinal() * 10 + j
        for family in FAMILIES:
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
