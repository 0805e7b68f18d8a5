"""gate_verdict's pure half: one verdict per model (family, horizon) from a trailing window
of oos_eval rows.

Only complete days are evidence: a day whose longest horizon has not passed yet, or whose
rows still lack a label, would score a model on part of its trades. For each model series
(a family that predicted, on one horizon) the window gives:

- the book: daily after-cost PnL of that series (``strategy``) and of the horizon's baselines;
- the trials: daily PnL of every model series evaluated in the window (families x horizons,
  ablations included), which the deflated Sharpe and the PBO count;
- trades, turnover per day, and coverage: evaluable decisions over the decisions the
  horizon's grid holds in the complete days (a missing bar, label or input lowers it);
- per source, the share of the complete days' feature rows where the source reached the
  model: at least one of its feature groups present (``source_coverage``; a source whose
  every flag is set at a row was absent there). One figure for every series of the symbol;
- the purged k-fold Sharpe of the fit, where the fit stored one (LightGBM), beside the
  walk-forward one.

A day without an evaluable decision of a series books 0 for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, datetime, time, timedelta, timezone

import polars as pl

from quant_assets.evaluation import metrics, strategy
from quant_assets.evaluation.completeness import missing_horizons
from quant_assets.evaluation.evidence import collect_evidence
from quant_assets.evaluation.gate import Evidence, Thresholds, verdict
from quant_assets.features.contract import FLAGS_BY_SOURCE
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS

GATE_ASSET = "gate_verdict"
REASON_SEPARATOR = "\n"
PARTITION_SEPARATOR = "; "

VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "family": pl.String(),
    "horizon": pl.String(),
    "passed": pl.Boolean(),
    "reasons": pl.String(),  # one PASS/FAIL line per gate, joined by newlines
    "window_start": pl.Date(),
    "window_end": pl.Date(),
    "completed_days": pl.Int64(),
    "trades": pl.Int64(),
    "upstream_checks_passed": pl.Boolean(),
    "failing_partitions": pl.String(),  # "; "-joined, empty when none
    "coverage": pl.Float64(),
    "daily_sharpe": pl.Float64(),
    "windows_beaten": pl.Int64(),
    "n_windows": pl.Int64(),
    "dsr_probability": pl.Float64(),
    "n_trials": pl.Int64(),
    "pbo": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "turnover": pl.Float64(),
    "cv_sharpe": pl.Float64(),
    "bars_coverage": pl.Float64(),
    "derivatives_coverage": pl.Float64(),
    "text_coverage": pl.Float64(),
}


def window_days(day: date, window: int, first_day: date) -> list[date]:
    """Days ``day - (window-1) .. day`` that exist (not before the first partition day);
    the same days as the asset's ``day_window_mapping(-(window-1), 0)``."""
    return [d for d in (day - timedelta(days=i) for i in range(window - 1, -1, -1)) if d >= first_day]


def is_complete(day: date, rows: pl.DataFrame, as_of: datetime) -> bool:
    """Every horizon's time has come and every stored row carries its label."""
    return not rows.is_empty() and not missing_horizons(day, HORIZONS, as_of) and rows["label"].null_count() == 0


def model_series(rows: pl.DataFrame) -> list[tuple[str, str]]:
    """(family, horizon) of every series a model predicted (baselines excluded), in order."""
    models = rows.filter(~pl.col("family").is_in(strategy.BASELINES))
    pairs = models.select("family", "horizon").unique()
    order = {h: i for i, h in enumerate(HORIZON_NAMES)}
    return sorted(pairs.iter_rows(), key=lambda p: (order.get(p[1], len(order)), p[0]))


def daily_by_series(rows: pl.DataFrame, days: Sequence[date]) -> pl.DataFrame:
    """``day`` (each of ``days``), then per (family, horizon) series of ``rows``, baselines
    included, a column ``family/horizon`` of its after-cost PnL per decision day
    (``metrics.daily_pnl``'s sum), 0 on a day without an evaluable decision. One group-by for
    a window: each verdict of it used to filter the rows again for each of its ~20 series."""
    grid = pl.DataFrame({"day": list(days)}, schema={"day": pl.Date()})
    booked = (
        rows.filter(pl.col("evaluable"))
        .group_by("family", "horizon", day=metrics.decision_day())
        .agg(pnl=pl.col("pnl").sum())
        .select("day", pl.concat_str("family", "horizon", separator="/").alias("series"), "pnl")
    )
    keys = [_series_key(f, h) for f, h in rows.select("family", "horizon").unique().sort("family", "horizon").iter_rows()]
    wide = booked.pivot(on="series", index="day", values="pnl") if booked.height else pl.DataFrame(schema={"day": pl.Date()})
    out = grid.join(wide, on="day", how="left")
    return out.select("day", *[(pl.col(k) if k in out.columns else pl.lit(None, pl.Float64)).fill_null(0.0).alias(k) for k in keys])


def _column(daily: pl.DataFrame, family: str, horizon: str, name: str) -> pl.Series:
    key = _series_key(family, horizon)
    return daily[key].alias(name) if key in daily.columns else pl.Series(name, [0.0] * daily.height, pl.Float64)


def grid_decisions(days: Sequence[date], horizon: timedelta) -> int:
    """Decision instants of the horizon's epoch-aligned grid (``strategy.on_grid``) among the
    days' rows, t in (D 00:00, D+1 00:00]: what a fully covered series decides."""
    step = horizon // timedelta(microseconds=1)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)

    def instants(moment: datetime) -> int:  # grid points in (epoch, moment]
        return ((moment - epoch) // timedelta(microseconds=1)) // step

    starts = [datetime.combine(d, time(), tzinfo=timezone.utc) for d in days]
    return sum(instants(s + timedelta(days=1)) - instants(s) for s in starts)


def _series_key(family: str, horizon: str) -> str:
    return f"{family}/{horizon}"


def source_coverage(features: pl.DataFrame | None) -> dict[str, float]:
    """Per source, the share of feature rows with at least one of its feature groups present,
    i.e. not every one of its missing flags set (``{}`` when no feature rows were read: the
    figures stay NaN and say so). Not "every group present": Binance serves open interest
    and long/short ratios for its last 30 days only, so a backfill lacks them for good while
    funding and basis arrive; that is a thinner source, not an absent one."""
    if features is None or features.height == 0:
        return {}
    present = features.select(
        [(~pl.all_horizontal(list(flags))).mean().alias(source) for source, flags in FLAGS_BY_SOURCE.items()]
    )
    return present.row(0, named=True)


def evidence(
    rows: pl.DataFrame,
    days: Sequence[date],
    family: str,
    horizon: str,
    failing_partitions: Sequence[str],
    thresholds: Thresholds,
    sources: Mapping[str, float] | None = None,
    cv_sharpe: float = float("nan"),
    daily: pl.DataFrame | None = None,
) -> Evidence:
    """The evidence on one model series over the complete ``days`` (``rows``: theirs only;
    ``daily``: ``daily_by_series(rows, days)``, computed once per window by ``verdicts``)."""
    daily = daily_by_series(rows, days) if daily is None else daily
    book = daily.select("day").with_columns(
        _column(daily, family, horizon, strategy.STRATEGY), *(_column(daily, name, horizon, name) for name in strategy.BASELINES)
    )
    trials = daily.select("day").with_columns(_column(daily, f, h, _series_key(f, h)) for f, h in model_series(rows))
    series = rows.filter((pl.col("family") == family) & (pl.col("horizon") == horizon))
    expected_decisions = grid_decisions(days, HORIZONS[horizon])
    return collect_evidence(
        book,
        trials,
        trades=int((series["trade_size"] > strategy.TRADE_EPS).sum()),
        turnover=float(series["trade_size"].sum()) / len(days) if days else 0.0,
        coverage=float(series["evaluable"].sum()) / expected_decisions if expected_decisions else 0.0,
        failing_partitions=failing_partitions,
        thresholds=thresholds,
        cv_sharpe=cv_sharpe,
        source_coverage=sources,
    )


def verdicts(
    rows_by_day: Mapping[date, pl.DataFrame],
    window: tuple[date, date],
    failing_partitions: Sequence[str],
    thresholds: Thresholds,
    as_of: datetime,
    features_by_day: Mapping[date, pl.DataFrame] | None = None,
    cv_sharpes: Mapping[tuple[str, str], float] | None = None,
) -> pl.DataFrame:
    """One row per model series stored in the window (``VERDICT_SCHEMA``). ``rows_by_day``:
    the oos_eval rows of each stored day of the window; partial days are stored but are no
    evidence, so a window of partial days is judged on zero completed days (a FAIL).
    ``features_by_day``: the feature rows (missing flags at least) of the window's days;
    ``cv_sharpes``: the fit's purged k-fold Sharpe per (family, horizon), where stored."""
    if not rows_by_day:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    stored = pl.concat(list(rows_by_day.values()), how="vertical")
    complete = sorted(d for d, rows in rows_by_day.items() if is_complete(d, rows, as_of))
    rows = stored.filter(metrics.decision_day().is_in(complete))
    features = [features_by_day[d] for d in complete if d in (features_by_day or {})]
    sources = source_coverage(pl.concat(features, how="vertical") if features else None)
    daily = daily_by_series(rows, complete)
    out = []
    for family, horizon in model_series(stored):
        cv = (cv_sharpes or {}).get((family, horizon), float("nan"))
        e = evidence(rows, complete, family, horizon, failing_partitions, thresholds, sources, cv, daily)
        v = verdict(e, thresholds)
        figures = asdict(e) | {"failing_partitions": PARTITION_SEPARATOR.join(e.failing_partitions)}
        out.append({"family": family, "horizon": horizon, "passed": v.passed, "reasons": REASON_SEPARATOR.join(v.reasons),
                    "window_start": window[0], "window_end": window[1], **figures})
    return pl.DataFrame(out, schema=VERDICT_SCHEMA)
