"""What a study's report shows, as frames: pure transforms of stored oos_eval rows, gate_verdict
rows and feature_matrix missing flags (no Dagster, no MLflow, no plotting).

Scopes: each symbol, and the universe (equal weight: the mean of the symbols' daily figures).
Series are those of oos_eval's one continuous book per (family, horizon): the served families
(lgbm, mhnet, mean), the ``portfolio`` and the baselines; ablations are evidence about
sources, never candidates, so their equity is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from quant_assets.evaluation import metrics
from quant_assets.evaluation.gate_window import VERDICT_SCHEMA, source_coverage
from quant_assets.evaluation.portfolio import PORTFOLIO
from quant_assets.evaluation.strategy import BASELINES
from quant_assets.models.lgbm import ABLATIONS

UNIVERSE = "universe"
ROLLING_IC_DAYS = 7
# Verdict columns shown when the rows carry them (older rows lack the interval).
VERDICT_COLUMNS = (
    "symbol", "family", "horizon", "passed", "daily_sharpe", "sharpe_ci_low", "sharpe_ci_high", "dsr_probability",
    "n_trials", "pbo", "completed_days", "windows_beaten", "n_windows", "max_drawdown", "coverage", "reasons",
)  # fmt: skip


@dataclass(frozen=True)
class Study:
    """The model days ``start..end`` of ``symbols``: what one ``quant-assets study`` runs."""

    start: date
    end: date
    symbols: tuple[str, ...]

    @property
    def key(self) -> str:
        """The study_report partition key (Dagster refuses ``...`` in keys, so ``_`` and ``+``)."""
        return f"{self.start}_{self.end}_{'+'.join(self.symbols)}"

    @classmethod
    def from_key(cls, key: str) -> Study:
        try:
            start, end, symbols = key.split("_", 2)
            study = cls(date.fromisoformat(start), date.fromisoformat(end), tuple(symbols.split("+")))
        except ValueError:
            raise ValueError(f"study key {key!r}: expected START_END_SYMBOL+SYMBOL..., e.g. 2025-06-01_2025-11-30_BTC-USDT+ETH-USDT") from None
        if study.end < study.start or not all(study.symbols):
            raise ValueError(f"study key {key!r}: the end is before the start, or a symbol is empty")
        return study


def is_equity_series(family: str) -> bool:
    return family not in ABLATIONS


def series_name(family: str, horizon: str) -> str:
    return f"{family} {horizon}"


def daily_series_pnl(rows: pl.DataFrame) -> pl.DataFrame:
    """``symbol, series, horizon, kind, day, pnl``: after-cost PnL per decision day of each
    series (``metrics.daily_pnl``'s sum of evaluable decisions), ablations left out."""
    if rows.is_empty():
        return pl.DataFrame(
            schema={"symbol": pl.String, "series": pl.String, "horizon": pl.String, "kind": pl.String, "day": pl.Date, "pnl": pl.Float64}
        )
    kept = rows.filter(~pl.col("family").is_in(list(ABLATIONS)) & pl.col("evaluable"))
    return (
        kept.group_by("symbol", "family", "horizon", day=metrics.decision_day())
        .agg(pnl=pl.col("pnl").sum())
        .with_columns(
            series=pl.concat_str("family", pl.lit(" "), "horizon"),
            kind=pl.when(pl.col("family") == PORTFOLIO).then(pl.lit("portfolio"))
            .when(pl.col("family").is_in(list(BASELINES))).then(pl.lit("baseline"))
            .otherwise(pl.lit("model")),
        )
        .select("symbol", "series", "horizon", "kind", "day", "pnl")
        .sort("symbol", "series", "day")
    )  # fmt: skip


def equity_curves(daily: pl.DataFrame) -> pl.DataFrame:
    """``scope, series, horizon, kind, day, equity``: cumulative after-cost PnL per symbol, and
    for the universe the cumulative mean of the symbols' daily PnL (one equal-weight book)."""
    universe = daily.group_by("series", "horizon", "kind", "day").agg(pnl=pl.col("pnl").mean()).with_columns(symbol=pl.lit(UNIVERSE))
    both = pl.concat([daily, universe.select(daily.columns)], how="vertical").rename({"symbol": "scope"})
    return both.sort("scope", "series", "day").with_columns(equity=pl.col("pnl").cum_sum().over("scope", "series")).drop("pnl")


def model_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows of the served model families' predictions: no baseline, ablation or portfolio."""
    others = [PORTFOLIO, *BASELINES, *ABLATIONS]
    return rows.filter(pl.col("prediction").is_not_null() & ~pl.col("family").is_in(others))


def rolling_rank_ic(rows: pl.DataFrame, window: int = ROLLING_IC_DAYS) -> pl.DataFrame:
    """``scope, series, horizon, day, rank_ic, rolling_ic``: the day's rank IC of prediction
    against the realised label (``metrics.rank_ic``), per symbol and for the universe (the
    mean of the symbols'), and its trailing ``window``-day mean over the days that have one."""
    models = model_rows(rows)
    if models.is_empty():
        return pl.DataFrame(
            schema={"scope": pl.String, "series": pl.String, "horizon": pl.String, "day": pl.Date, "rank_ic": pl.Float64, "rolling_ic": pl.Float64}
        )
    per_day = []
    for (symbol, family, horizon, day), group in models.group_by("symbol", "family", "horizon", metrics.decision_day().alias("day")):
        per_day.append({"scope": symbol, "series": series_name(family, horizon), "horizon": horizon, "day": day,
                        "rank_ic": metrics.rank_ic(group["prediction"], group["label"])})  # fmt: skip
    ic = pl.DataFrame(per_day).filter(pl.col("rank_ic").is_not_nan())
    universe = ic.group_by("series", "horizon", "day").agg(rank_ic=pl.col("rank_ic").mean()).with_columns(scope=pl.lit(UNIVERSE))
    both = pl.concat([ic, universe.select(ic.columns)], how="vertical").sort("scope", "series", "day")
    return both.with_columns(rolling_ic=pl.col("rank_ic").rolling_mean(window, min_samples=1).over("scope", "series"))


def calibration(rows: pl.DataFrame) -> pl.DataFrame:
    """``scope, series, horizon, bucket, rows, predicted, realised``: predicted vs realised
    return by prediction-quantile bucket (``metrics.calibration``), per symbol and pooled over
    the universe."""
    models = model_rows(rows)
    frames = []
    scopes = [(s, models.filter(pl.col("symbol") == s)) for s in sorted(models["symbol"].unique())] + [(UNIVERSE, models)]
    for scope, frame in scopes:
        for (family, horizon), group in frame.group_by("family", "horizon", maintain_order=True):
            buckets = metrics.calibration(group["prediction"], group["label"])
            frames.append(buckets.with_columns(scope=pl.lit(scope), series=pl.lit(series_name(family, horizon)), horizon=pl.lit(horizon)))
    if not frames:
        return pl.DataFrame(
            schema={
                "scope": pl.String,
                "series": pl.String,
                "horizon": pl.String,
                "bucket": pl.Int64,
                "rows": pl.UInt32,
                "predicted": pl.Float64,
                "realised": pl.Float64,
            }
        )
    return pl.concat(frames, how="vertical").select("scope", "series", "horizon", "bucket", "rows", "predicted", "realised")


def coverage_by_day(flags: pl.DataFrame) -> pl.DataFrame:
    """``symbol, day, source, coverage``: per feature_matrix partition the share of rows where
    the source had a record (``gate_window.source_coverage``, the gate's own figure).
    ``flags``: feature rows with ``symbol``, ``partition_day`` and the missing flags."""
    out = []
    for (symbol, day), group in flags.group_by("symbol", "partition_day") if not flags.is_empty() else []:
        for source, share in source_coverage(group).items():
            out.append({"symbol": symbol, "day": day, "source": source, "coverage": share})
    schema = {"symbol": pl.String, "day": pl.Date, "source": pl.String, "coverage": pl.Float64}
    return pl.DataFrame(out, schema=schema).sort("symbol", "source", "day")


def last_verdicts(verdicts: pl.DataFrame) -> pl.DataFrame:
    """The verdict rows to show (``VERDICT_COLUMNS`` that the rows carry), passes first."""
    if verdicts.is_empty():
        return pl.DataFrame(schema={c: VERDICT_SCHEMA.get(c, pl.String) for c in VERDICT_COLUMNS if c in VERDICT_SCHEMA or c == "symbol"})
    shown = [c for c in VERDICT_COLUMNS if c in verdicts.columns]
    return verdicts.select(shown).sort(["passed", "symbol", "family", "horizon"], descending=[True, False, False, False])


def headline(equity: pl.DataFrame, verdicts: pl.DataFrame) -> dict[str, float | int]:
    """The figures a summary names: verdicts passed of those judged, and the universe's final
    after-cost PnL of the portfolio and of the best model series."""
    final = equity.filter(pl.col("scope") == UNIVERSE).group_by("series", "kind").agg(pl.col("equity").last())
    portfolio = final.filter(pl.col("kind") == "portfolio")["equity"]
    models = final.filter(pl.col("kind") == "model").sort("equity", descending=True)
    return {
        "verdicts": verdicts.height,
        "verdicts_passed": int(verdicts["passed"].sum()) if verdicts.height else 0,
        "universe_portfolio_pnl": float(portfolio[0]) if len(portfolio) else float("nan"),
        "universe_best_series_pnl": float(models["equity"][0]) if models.height else float("nan"),
        "universe_best_series": models["series"][0] if models.height else "",
    }
