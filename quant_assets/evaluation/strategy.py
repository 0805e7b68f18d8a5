"""The reference strategy: stated once here, used by oos_eval, the gate and paper parity.

Input: one (symbol, horizon) series of 5m decision rows, ordered by ``t``, with

- ``prediction``: the model's predicted gross forward log return over the horizon;
- ``label``: the realised gross forward log return over the horizon (null when unknown);
- ``vol``: trailing realised volatility of the horizon's log return (std), known at ``t``;
- for the momentum baseline, a trailing log return over the same horizon, known at ``t``.

Reference strategy, with ``cost`` the round-trip cost as a fraction (22 bps by default):

- edge  = sign(prediction) * max(|prediction| - cost, 0): a prediction inside one round
  trip of zero is no edge, and the edge is symmetric for longs and shorts;
- score = edge / max(vol, eps);
- position = clip(score, -1, 1), decided only on the horizon's non-overlapping grid
  (``t`` a whole multiple of the horizon since the Unix epoch, so a day evaluated alone
  and a year evaluated at once decide at the same instants; 1h, 4h and 1d align with UTC
  hours and midnights, 7d with Thursdays 00:00 UTC) and held on the rows in between;
- PnL of a decision = position * label - |position - previous position| * cost / 2,
  i.e. costs are charged on every change of position, half a round trip per unit;
- the exit cost of the position held at a row, ``|position| * cost / 2``, is stated
  (``exit_cost``), never charged: the last row of a span says what closing its book would
  cost, and the book goes on where a later span carries the position in.

One book across days: a series is one continuous book. ``initial_position`` is the
position carried in from before the first row (the previous day's last position; 0 where
there is none, and then the first trade pays its entry). So buy-and-hold over ten days
trades once, and a position held over midnight is no trade.

Baselines go through the very same simulation: flat (0), buy-and-hold (+1 at every
decision, so it pays the entry once) and momentum (sign of the trailing return).

Missing data: a grid instant is *decided* when every input of the rule is known and finite
there (as serving decides: the label plays no part, so a position never depends on when
its label became known, and a day's closing position is final once its inputs are); it is
*evaluable* when it is decided and its label is known too. An instant that is not decided
keeps the previous position and trades nothing; only evaluable decisions book PnL (else
null): a gap never invents a return. A decided instant whose label is unknown (a day still
partial, or a lasting gap in bars) trades, as serving would, and its PnL is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import polars as pl

DEFAULT_ROUND_TRIP_COST = 0.0022
VOL_EPS = 1e-6
# Below this a change of position is float noise, not a trade.
TRADE_EPS = 1e-12

STRATEGY = "strategy"
FLAT = "flat"
BUY_AND_HOLD = "buy_and_hold"
MOMENTUM = "momentum"
BASELINES = (FLAT, BUY_AND_HOLD, MOMENTUM)


def on_grid(horizon: timedelta) -> pl.Expr:
    """True on the horizon's non-overlapping decision instants (epoch-aligned)."""
    step_us = horizon // timedelta(microseconds=1)
    return (pl.col("t").dt.epoch("us") % step_us) == 0


def reference_edge(prediction: str = "prediction", *, cost: float) -> pl.Expr:
    """sign(prediction) * max(|prediction| - cost, 0): the cost-shrunk, symmetric edge."""
    pred = pl.col(prediction)
    return pred.sign() * (pred.abs() - cost).clip(lower_bound=0.0)


def reference_score(prediction: str = "prediction", vol: str = "vol", *, cost: float, eps: float = VOL_EPS) -> pl.Expr:
    """edge / max(vol, eps)."""
    return reference_edge(prediction, cost=cost) / pl.max_horizontal(pl.col(vol), pl.lit(eps))


def reference_position(prediction: str = "prediction", vol: str = "vol", *, cost: float, eps: float = VOL_EPS) -> pl.Expr:
    """clip(edge / max(vol, eps), -1, 1) with the cost-shrunk, symmetric edge."""
    return reference_score(prediction, vol, cost=cost, eps=eps).clip(-1.0, 1.0)


def simulate(
    frame: pl.DataFrame,
    position: pl.Expr,
    needs: Sequence[str],
    *,
    horizon: timedelta,
    cost: float = DEFAULT_ROUND_TRIP_COST,
    initial_position: float = 0.0,
) -> pl.DataFrame:
    """Run a position rule over one time-ordered series (see the module docstring).

    ``needs`` are the columns the rule reads: known, they make a grid instant *decided*;
    with ``label`` known too, *evaluable*. ``initial_position`` is the position carried in
    from before the first row (the book's previous day; 0: start flat, so the first trade
    pays its entry). Adds ``is_decision``, ``decided``, ``evaluable``, ``position`` (held on
    every row), ``trade_size`` (|change| against the row before, or the carried position),
    ``pnl`` (after cost, on evaluable decisions only, else null) and ``exit_cost``.
    """
    _validate(frame, [*needs, "label"], horizon, cost)
    decided = on_grid(horizon) & pl.all_horizontal([known(c) for c in needs]) if needs else on_grid(horizon)
    held = pl.when(pl.col("decided")).then(position.cast(pl.Float64)).otherwise(None).forward_fill().fill_null(initial_position)
    out = frame.with_columns(is_decision=on_grid(horizon), decided=decided).with_columns(evaluable=pl.col("decided") & known("label"), position=held)
    return book(out, cost=cost, initial_position=initial_position)


def known(column: str) -> pl.Expr:
    """The column holds a finite number."""
    return pl.col(column).is_not_null() & pl.col(column).cast(pl.Float64).is_finite()


def book(frame: pl.DataFrame, *, cost: float, initial_position: float = 0.0) -> pl.DataFrame:
    """The one accounting of a book, given its held ``position`` per row and where it is
    ``evaluable``: ``trade_size`` = |change| (the first row against ``initial_position``),
    ``pnl`` = position * label - trade_size * cost / 2 on evaluable rows (else null), and
    ``exit_cost`` = |position| * cost / 2, stated, not charged."""
    change = (pl.col("position") - pl.col("position").shift(1).fill_null(initial_position)).abs()
    return frame.with_columns(trade_size=change).with_columns(
        pnl=pl.when(pl.col("evaluable")).then(pl.col("position") * pl.col("label") - pl.col("trade_size") * (cost / 2.0)).otherwise(None),
        exit_cost=pl.col("position").abs() * (cost / 2.0),
    )


def reference(frame: pl.DataFrame, *, horizon: timedelta, cost: float = DEFAULT_ROUND_TRIP_COST, **kw) -> pl.DataFrame:
    """The reference strategy on ``prediction`` and ``vol``."""
    return simulate(frame, reference_position(cost=cost), ["prediction", "vol"], horizon=horizon, cost=cost, **kw)


def baseline(
    frame: pl.DataFrame, name: str, *, horizon: timedelta, cost: float = DEFAULT_ROUND_TRIP_COST, momentum: str = "momentum", **kw
) -> pl.DataFrame:
    """A baseline by name: ``flat``, ``buy_and_hold`` or ``momentum`` (reads column ``momentum``)."""
    rules = {
        FLAT: (pl.lit(0.0), []),
        BUY_AND_HOLD: (pl.lit(1.0), []),
        MOMENTUM: (pl.col(momentum).sign(), [momentum]),
    }
    if name not in rules:
        raise ValueError(f"baseline {name!r}: expected one of {', '.join(BASELINES)}")
    rule, needs = rules[name]
    return simulate(frame, rule, needs, horizon=horizon, cost=cost, **kw)


def _validate(frame: pl.DataFrame, needs: Sequence[str], horizon: timedelta, cost: float) -> None:
    missing = [c for c in ("t", *needs) if c not in frame.columns]
    if missing:
        raise ValueError(f"strategy input: column(s) {', '.join(missing)} missing (have {', '.join(frame.columns)})")
    if horizon <= timedelta(0):
        raise ValueError(f"strategy horizon {horizon}: must be positive")
    if not 0.0 <= cost < 1.0:
        raise ValueError(f"strategy cost {cost}: a round-trip cost is a fraction in [0, 1)")
    t = frame["t"]
    if t.null_count():
        raise ValueError(f"strategy input: {t.null_count()} row(s) with null t")
    if frame.height > 1 and not (t.diff().drop_nulls() > timedelta(0)).all():
        bad = int((t.diff() <= timedelta(0)).arg_true()[0])
        raise ValueError(f"strategy input: t not strictly increasing at row {bad} (t={t[bad]}); one series, time-ordered")
