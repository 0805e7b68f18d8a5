"""The book serving trades for one symbol, stated once: which family's predictions, how the
horizons combine, and how the combined target is sized. serving (``serving.signals``,
``serving.allocator``) and oos_eval's ``portfolio`` series both use these functions; the
model half never imports serving.

- family: ``QUANT_ASSETS_SERVING_FAMILY``, one of ``lgbm``, ``mhnet`` or ``mean`` (the
  average of the lgbm and mhnet predictions, ``with_mean``);
- combination: target = sum_h w_h * position_h, with each horizon's position the reference
  strategy's (``strategy.reference_position``) decided on its own grid and held in between,
  weights from ``QUANT_ASSETS_SERVING_HORIZON_WEIGHTS`` (``combine``);
- sizing, as a share of capital (``sized``): clip(target * risk_budget, +-max_symbol), then
  every symbol scaled down together until the gross is at most ``max_gross``;
- the book resizes only when one of the symbol's horizons decides, and skips a change below
  ``min_change`` of capital (``changes``), holding its position in between.

The ``portfolio`` series of oos_eval (``book``) is that position on the symbol's rows, one
continuous book across days like every series: its PnL is booked on the grid of the finest
weighted horizon (every coarser grid lies on it), position * that horizon's label less
half a round trip per unit of change. Two simplifications, both second order and bounded by
the replay-parity test: the book holds a share of capital between decisions where the venue
holds a quantity (whose notional drifts with the price), and it measures a change against
the share it holds; and ``max_gross`` applies to the symbol alone (the series is per symbol;
across symbols it only binds when their sum exceeds it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from quant_assets import settings
from quant_assets.evaluation import strategy
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS

PORTFOLIO = "portfolio"
MEAN = "mean"
MEAN_OF = ("lgbm", "mhnet")
FAMILIES = (*MEAN_OF, MEAN)  # the families serving can trade
# A change of notional below this (quote units) is never an order, whatever min_change says.
MIN_ORDER_NOTIONAL = 1e-9


def parse_weights(raw: str) -> dict[str, float]:
    """``1h=0.25,4h=0.25,1d=0.25,7d=0.25`` -> {horizon: weight}; horizons not named weigh 0."""
    out = {}
    for item in raw.split(","):
        h, sep, w = item.strip().partition("=")
        if not sep or h not in HORIZON_NAMES:
            raise ValueError(f"{item.strip()!r} is not <horizon>=<weight> with a horizon of {', '.join(HORIZON_NAMES)}")
        out[h] = float(w)
    if not any(out.values()):
        raise ValueError("every weight is 0")
    return out


def served_family() -> str:
    return settings.current().portfolio.family


def horizon_weights() -> dict[str, float]:
    return settings.declared("QUANT_ASSETS_SERVING_HORIZON_WEIGHTS").refine(parse_weights, settings.current().portfolio.horizon_weights)


def risk_budget() -> float:
    return settings.current().portfolio.risk_budget


def max_gross() -> float:
    return settings.current().portfolio.max_gross


def min_change() -> float:
    return settings.current().portfolio.min_change


def max_position() -> float:
    """A symbol's notional cap as a share of equity (also the risk checks' ``max_position``)."""
    return settings.current().portfolio.max_position


@dataclass(frozen=True)
class Sizing:
    capital: float
    risk_budget: float
    max_symbol: float
    max_gross: float
    min_change: float
    # The book's equity at the tick's marks (``Bookkeeping.equity``), the base of the per-symbol cap
    # as in ``serving.risk.checks``; None: the capital (a book that has not traded yet, and the
    # evaluation's unit book). The budget stays a share of the fixed capital, as the reference
    # strategy's unit position stands for a fixed notional (what the replay-parity test compares).
    equity: float | None = None

    @property
    def symbol_cap(self) -> float:
        """The largest |notional| of one symbol: ``max_symbol`` of the equity (none below 0),
        shaved by a part in 10^9 so the float round trip through base units stays under the
        risk check's cap."""
        base = self.capital if self.equity is None else max(self.equity, 0.0)
        return self.max_symbol * base * (1 - 1e-9)

    def min_change_notional(self) -> float:
        """The smallest change of notional that is an order."""
        return max(self.min_change * self.capital, MIN_ORDER_NOTIONAL)


@dataclass(frozen=True)
class Rules:
    """What serving trades for a symbol: the family, the horizon weights and the sizing
    (as shares of capital: ``sizing.capital`` is 1)."""

    family: str
    weights: dict[str, float]
    sizing: Sizing

    @classmethod
    def from_env(cls) -> "Rules":
        return cls(served_family(), horizon_weights(), Sizing(1.0, risk_budget(), max_position(), max_gross(), min_change()))

    @property
    def horizons(self) -> list[str]:
        """The weighted horizons, in the horizons' order."""
        return [h for h in HORIZON_NAMES if self.weights.get(h)]

    @property
    def booked_on(self) -> str:
        """The finest weighted horizon: its grid holds every decision of the book."""
        return self.horizons[0]

    def metadata(self) -> dict:
        return {"family": self.family, "weights": dict(self.weights), "booked_on": self.booked_on,
                **{k: v for k, v in asdict(self.sizing).items() if k not in ("capital", "equity")}}  # fmt: skip


def with_mean(predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The families predicted, plus ``mean`` = (lgbm + mhnet) / 2 where both are there."""
    out = dict(predictions)
    if all(f in predictions for f in MEAN_OF):
        out[MEAN] = sum(predictions[f] for f in MEAN_OF) / len(MEAN_OF)
    return out


def combine(weights: Mapping[str, float], column: str = "position_{}") -> pl.Expr:
    """sum_h w_h * column(h): the combined target (a horizon without a position holds 0)."""
    return pl.sum_horizontal([w * pl.col(column.format(h)).fill_null(0.0) for h, w in weights.items() if w])


def sized(target: pl.Expr, sizing: Sizing, over: str) -> pl.Expr:
    """Target notional: clip(target * risk_budget * capital, +-symbol_cap), then
    every row of the same ``over`` group (the symbols of one instant) scaled down together
    until their gross is at most ``max_gross * capital``."""
    cap = sizing.symbol_cap
    wanted = (target * (sizing.risk_budget * sizing.capital)).clip(-cap, cap)
    gross = wanted.abs().sum().over(over)
    limit = sizing.max_gross * sizing.capital
    return wanted * pl.when(gross > limit).then(limit / gross).otherwise(1.0)


def target_notionals(targets: dict[str, float], sizing: Sizing) -> dict[str, float]:
    """symbol -> target notional of one instant (``sized``)."""
    if not targets:
        return {}
    frame = pl.DataFrame({"symbol": list(targets), "target": list(targets.values()), "at": 0},
                         schema={"symbol": pl.String(), "target": pl.Float64(), "at": pl.Int8()})  # fmt: skip
    out = frame.select("symbol", notional=sized(pl.col("target"), sizing, "at"))
    return dict(zip(out["symbol"], out["notional"]))


def changes(wanted: np.ndarray, sizing: Sizing, start: float) -> np.ndarray:
    """The book after each decision: ``wanted`` (target notionals at the decisions, in
    order) where the change from the position held is at least ``min_change_notional``,
    else the position held (serving's BELOW_MIN_CHANGE skip). Sequential by nature (a skip
    depends on what was held), over decisions only (one per grid instant, not per row)."""
    threshold = sizing.min_change_notional()
    out = np.empty(wanted.size)
    held = start
    for i, w in enumerate(wanted):
        if abs(w - held) >= threshold:
            held = w
        out[i] = held
    return out


def book(runs: Mapping[str, pl.DataFrame], rules: Rules, *, cost: float, carry: float = 0.0) -> pl.DataFrame:
    """The ``portfolio`` series of one symbol: ``runs[h]`` the served family's reference
    strategy on horizon h (``strategy.simulate``'s output on ``oos``'s series, same rows
    ``t``, every weighted horizon), ``carry`` the portfolio's position carried in. Columns as ``strategy.simulate``
    gives them, ``label`` being the finest weighted horizon's; ``prediction`` is null (the
    book combines positions, it predicts nothing of its own)."""
    missing = [h for h in rules.horizons if h not in runs]
    if missing:
        raise ValueError(f"{PORTFOLIO}: no series of family {rules.family} for weighted horizon(s) {', '.join(missing)}")
    base = runs[rules.booked_on]
    frame = base.select(
        "t", "label", "label_net",
        *[runs[h]["position"].alias(f"position_{h}") for h in rules.horizons],
        decided=pl.any_horizontal([runs[h]["decided"] for h in rules.horizons]),
    )  # fmt: skip
    frame = frame.with_columns(wanted=sized(combine(rules.weights), rules.sizing, "t"))
    at = frame["decided"].arg_true()
    held = changes(frame["wanted"].gather(at).to_numpy(), rules.sizing, carry)
    position = pl.Series("position", np.full(frame.height, np.nan)).scatter(at, held).fill_nan(None).forward_fill().fill_null(carry)
    grid = strategy.on_grid(HORIZONS[rules.booked_on])
    out = frame.with_columns(position, prediction=pl.lit(None, pl.Float64), is_decision=grid).with_columns(
        evaluable=pl.col("is_decision") & strategy.known("label")
    )
    return strategy.book(out, cost=cost, initial_position=carry).drop("wanted", *[f"position_{h}" for h in rules.horizons])
