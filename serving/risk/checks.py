"""Risk checks run before every order batch: pure functions of a snapshot and the limits.

A halt stops a whole batch (``check_batch``), a refusal stops one order or its part
(``admit``); each carries a reason code that the batch runner writes to the ledger. The kill
switch, the live-trading gate and a venue back-off (429 Retry-After, 418 ban) stop everything.
The loss halts (daily loss, consecutive losses, intraday drawdown) stop new risk: an order
that only shrinks a position still goes, and an order that flips a position is cut to the part
that brings it to flat (the part that would open the other side is refused), so a halted book
can always be flattened rather than being frozen in a losing position.
"""

from __future__ import annotations

from dataclasses import dataclass

# Reason codes, as stored in ``risk_events.code``.
KILL_SWITCH = "KILL_SWITCH"
LIVE_NOT_ENABLED = "LIVE_NOT_ENABLED"
LIVE_KEYS_MISSING = "LIVE_KEYS_MISSING"
DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
CONSECUTIVE_LOSSES = "CONSECUTIVE_LOSSES"
INTRADAY_DRAWDOWN = "INTRADAY_DRAWDOWN"
MAX_POSITION = "MAX_POSITION"
HALTED_NEW_RISK = "HALTED_NEW_RISK"  # an order refused because a loss halt is in force


@dataclass(frozen=True)
class RiskLimits:
    max_daily_loss: float  # fraction of the day's starting equity, e.g. 0.02
    max_consecutive_losses: int  # closing fills in a row with a negative realised PnL
    max_drawdown: float  # fraction below the day's equity peak, e.g. 0.03
    max_position: float  # a symbol's notional as a fraction of equity, e.g. 0.25


@dataclass(frozen=True)
class RiskState:
    """What the checks need to know, read from the ledger (and the environment) per batch."""

    mode: str
    kill_switch: bool
    live_enabled: bool
    keys_present: bool
    equity: float
    day_start_equity: float
    day_peak_equity: float
    consecutive_losses: int
    positions: dict[str, float]  # symbol -> signed base quantity
    venue_backoff: tuple[str, str] | None = None  # (code, detail) while the venue wants no requests


@dataclass(frozen=True)
class Halt:
    code: str
    detail: str
    reduce_only: bool  # True: orders that only shrink a position may still go


@dataclass(frozen=True)
class Refusal:
    code: str
    detail: str


def check_batch(state: RiskState, limits: RiskLimits) -> list[Halt]:
    halts = []
    if state.kill_switch:
        halts.append(Halt(KILL_SWITCH, "the kill switch is set", reduce_only=False))
    if state.venue_backoff is not None:
        halts.append(Halt(*state.venue_backoff, reduce_only=False))
    if state.mode == "live":
        if not state.live_enabled:
            halts.append(Halt(LIVE_NOT_ENABLED, "live trading has not been enabled by a person", reduce_only=False))
        if not state.keys_present:
            halts.append(Halt(LIVE_KEYS_MISSING, "exchange API key and secret are not both set", reduce_only=False))
    day_loss = (state.day_start_equity - state.equity) / state.day_start_equity if state.day_start_equity > 0 else 0.0
    if day_loss >= limits.max_daily_loss:
        halts.append(Halt(DAILY_LOSS_LIMIT, f"down {day_loss:.2%} today, limit {limits.max_daily_loss:.2%}", reduce_only=True))
    if state.consecutive_losses >= limits.max_consecutive_losses:
        halts.append(
            Halt(
                CONSECUTIVE_LOSSES,
                f"{state.consecutive_losses} losing closes in a row, limit {limits.max_consecutive_losses}",
                reduce_only=True,
            )
        )
    drawdown = (state.day_peak_equity - state.equity) / state.day_peak_equity if state.day_peak_equity > 0 else 0.0
    if drawdown >= limits.max_drawdown:
        halts.append(Halt(INTRADAY_DRAWDOWN, f"{drawdown:.2%} below today's peak, limit {limits.max_drawdown:.2%}", reduce_only=True))
    return halts


def reduces_only(position: float, signed_quantity: float) -> bool:
    """True when the order moves the position towards zero without crossing it."""
    return position * signed_quantity < 0 and abs(signed_quantity) <= abs(position) + 1e-12


def admit(symbol: str, signed_quantity: float, price: float, state: RiskState, limits: RiskLimits, halts: list[Halt]) -> tuple[float, Refusal | None]:
    """How much of an order may go (signed; 0.0: none of it) and why the rest may not (None:
    all of it goes). Under a loss halt a flip is split: the part to flat goes, the rest is
    refused."""
    position = state.positions.get(symbol, 0.0)
    if any(not h.reduce_only for h in halts):
        return 0.0, Refusal(next(h for h in halts if not h.reduce_only).code, "batch halted")
    if reduces_only(position, signed_quantity):
        return signed_quantity, None
    if halts:
        why = ", ".join(h.code for h in halts)
        if position * signed_quantity < 0:  # a flip: flatten, refuse what would open the other side
            rest = abs(position + signed_quantity)
            return -position, Refusal(
                HALTED_NEW_RISK, f"cut to {abs(position):g} to flat: opening {rest:g} on the other side adds risk while halted ({why})"
            )
        return 0.0, Refusal(HALTED_NEW_RISK, f"adds risk while halted ({why})")
    after = abs(position + signed_quantity) * price
    cap = limits.max_position * max(state.equity, 0.0)
    if after > cap:
        return 0.0, Refusal(MAX_POSITION, f"{symbol} notional {after:.2f} would exceed {cap:.2f} ({limits.max_position:.0%} of equity)")
    return signed_quantity, None


def consecutive_losses(closing_pnls_newest_first: list[float]) -> int:
    count = 0
    for pnl in closing_pnls_newest_first:
        if pnl >= 0:
            break
        count += 1
    return count
