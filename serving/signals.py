"""Signals: the reference strategy's rule, applied to the champion's prediction at tick time.

Per symbol and horizon, with ``cost`` the one round-trip cost (``labels.costs``) and ``vol``
the reference strategy's trailing volatility of the horizon (``oos.TRAILING``):

- ``edge_h = sign(p_h) * max(|p_h| - cost, 0)`` (prediction minus cost, symmetric for shorts),
- ``score_h = edge_h / max(vol_h, eps)``, ``position_h = clip(score_h, -1, 1)``,

all three from ``quant_assets.evaluation.strategy``, the definition oos_eval and the gate use.
As there, a horizon decides only on its own epoch-aligned grid and holds its decision in
between (the held decision is the newest ``signals`` row of the ledger); a decision whose
inputs are missing keeps the previous one. The symbol's target is ``sum_h w_h * position_h``
with the configured weights (``quant_assets.evaluation.portfolio``, as oos_eval's portfolio
series combines them).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from quant_assets.evaluation import portfolio, strategy
from quant_assets.evaluation.oos import TRAILING
from quant_assets.labels.horizons import HORIZONS
from quant_assets.timegrid import TS_DTYPE

NO_MODEL = "none: champion removed"  # a flat decision's model_uri (no model decided it)


def on_grid(h: str, t: datetime) -> bool:
    """True when ``t`` is one of horizon ``h``'s decision instants (``strategy.on_grid``)."""
    return pl.DataFrame({"t": [t]}, schema={"t": TS_DTYPE}).select(strategy.on_grid(HORIZONS[h]))[0, 0]


def decide(
    features: pl.DataFrame, predictions: dict[tuple[str, str], float], models: dict[tuple[str, str], str], t: datetime, cost: float
) -> list[dict]:
    """The decisions due at ``t``: one dict per (symbol, horizon) with a prediction, on the
    horizon's grid, whose prediction and volatility are known (``Journal.record_signals`` rows)."""
    on = {h for h in {h for _, h in predictions} if on_grid(h, t)}  # once per horizon, not per symbol
    due = [(s, h) for (s, h) in predictions if h in on]
    if not due:
        return []
    vols = {}
    for row in features.iter_rows(named=True):
        for h, src in TRAILING.items():
            v = row[src.vol]
            vols[row["symbol"], h] = None if v is None else v * src.vol_scale
    frame = pl.DataFrame(
        {
            "symbol": [s for s, _ in due],
            "horizon": [h for _, h in due],
            "prediction": [predictions[k] for k in due],
            "vol": [vols.get(k) for k in due],
        },
        schema={"symbol": pl.String(), "horizon": pl.String(), "prediction": pl.Float64(), "vol": pl.Float64()},
    ).filter(pl.col("prediction").is_finite() & pl.col("vol").is_finite())
    out = frame.with_columns(
        edge=strategy.reference_edge(cost=cost),
        score=strategy.reference_score(cost=cost),
        position=strategy.reference_position(cost=cost),
    )
    return [{**r, "t": t, "cost": cost, "model_uri": models[r["symbol"], r["horizon"]]} for r in out.iter_rows(named=True)]


def targets(held: dict[tuple[str, str], float], weights: dict[str, float], symbols: list[str]) -> dict[str, float]:
    """symbol -> sum_h w_h * held position_h (a horizon never decided holds 0): ``portfolio.combine``,
    the combination oos_eval's portfolio series uses."""
    frame = pl.DataFrame(
        {"symbol": symbols, **{f"position_{h}": [held.get((s, h)) for s in symbols] for h in weights}},
        schema={"symbol": pl.String(), **{f"position_{h}": pl.Float64() for h in weights}},
    )
    out = frame.select("symbol", target=portfolio.combine(weights))
    return dict(zip(out["symbol"], out["target"]))


def flat(symbol: str, horizon: str, t: datetime, cost: float) -> dict:
    """A flat decision of ``symbol``'s ``horizon`` at ``t`` with no model behind it (a
    ``signals`` row): what the tick records to flatten a horizon whose champion was removed."""
    return {"symbol": symbol, "horizon": horizon, "t": t, "model_uri": NO_MODEL, "prediction": 0.0, "cost": cost, "vol": 0.0,
            "edge": 0.0, "score": 0.0, "position": 0.0}  # fmt: skip
