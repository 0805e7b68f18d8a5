"""Does the pooled family beat the per-symbol fits? Per horizon, ``lgbm_pooled`` against
``lgbm`` over the study: mean daily rank IC (over every symbol-day that has one) and the
Sharpe of the universe's equal-weight daily PnL after cost (``metrics.annualised_sharpe``, the
gate's daily Sharpe), on the same days. Pure: the report's frames in, a frame and a sentence out.
"""

from __future__ import annotations

import polars as pl

from quant_assets.evaluation import metrics
from quant_assets.models.lgbm import MAIN
from quant_assets.models.pooled import POOLED_FAMILY
from quant_assets.report.frames import UNIVERSE, series_name

FAMILIES = (MAIN, POOLED_FAMILY)
SCHEMA = {
    "horizon": pl.String, "days": pl.Int64,
    f"{MAIN}_rank_ic": pl.Float64, f"{POOLED_FAMILY}_rank_ic": pl.Float64,
    f"{MAIN}_sharpe": pl.Float64, f"{POOLED_FAMILY}_sharpe": pl.Float64, "winner": pl.String,
}  # fmt: skip


def comparison(ic: pl.DataFrame, daily: pl.DataFrame, horizons: list[str]) -> pl.DataFrame:
    """One row per horizon both families were evaluated on (``SCHEMA``). ``ic``:
    ``frames.rolling_rank_ic``; ``daily``: ``frames.daily_series_pnl``. The winner is the
    family better on both figures, else ``mixed`` (or ``tie``)."""
    rows = []
    for h in horizons:
        names = {f: series_name(f, h) for f in FAMILIES}
        pnl = daily.filter(pl.col("series").is_in(list(names.values())))
        if pnl.select("series").n_unique() < len(FAMILIES):
            continue
        # the universe's equal-weight book per day, both families on the same days (0 where one did not trade)
        book = pnl.group_by("series", "day").agg(pl.col("pnl").mean()).pivot(on="series", index="day", values="pnl").fill_null(0.0)
        symbol_ic = ic.filter((pl.col("scope") != UNIVERSE) & pl.col("series").is_in(list(names.values())))
        row = {"horizon": h, "days": book.height}
        for f, name in names.items():
            row[f"{f}_rank_ic"] = symbol_ic.filter(pl.col("series") == name)["rank_ic"].mean()
            row[f"{f}_sharpe"] = metrics.annualised_sharpe(book[name].to_numpy())
        rows.append(row | {"winner": _winner(row)})
    return pl.DataFrame(rows, schema=SCHEMA)


def _winner(row: dict) -> str:
    better = [row[f"{POOLED_FAMILY}_{k}"] - row[f"{MAIN}_{k}"] for k in ("rank_ic", "sharpe")]
    if any(b is None or b != b for b in better):
        return "mixed"
    if all(b > 0 for b in better):
        return POOLED_FAMILY
    if all(b < 0 for b in better):
        return MAIN
    return "tie" if all(b == 0 for b in better) else "mixed"


def sentence(table: pl.DataFrame) -> str:
    """Whether the pooled fit beats the per-symbol fits, in one sentence."""
    if table.is_empty():
        return f"{POOLED_FAMILY} vs {MAIN}: no horizon with both families evaluated in the study."
    wins = table.filter(pl.col("winner") == POOLED_FAMILY)["horizon"].to_list()
    losses = table.filter(pl.col("winner") == MAIN)["horizon"].to_list()
    mixed = table.filter(~pl.col("winner").is_in(FAMILIES))["horizon"].to_list()
    verdict = (
        "beats" if len(wins) > len(losses) + len(mixed) else "does not beat" if len(losses) > len(wins) + len(mixed) else "neither beats nor trails"
    )
    parts = [f"better on {', '.join(wins)}" if wins else "", f"worse on {', '.join(losses)}" if losses else "",
             f"mixed on {', '.join(mixed)}" if mixed else ""]  # fmt: skip
    return (
        f"The pooled fit ({POOLED_FAMILY}) {verdict} the per-symbol fits ({MAIN}) over the study's {table['days'].max()} days: "
        f"{'; '.join(p for p in parts if p)} (better means a higher mean rank IC and a higher after-cost Sharpe of the universe's book)."
    )
