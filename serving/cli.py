"""``quant-assets trading ...``, ``quant-assets positions`` and ``quant-assets orders``.

The kill switch and live enablement are the people's levers: each command appends who,
why and when to the ledger, and the next order batch reads it. ``enable-live`` is the only
way live trading is ever switched on; it needs a name and a reason, never a default.
"""

from __future__ import annotations

import getpass

import click

from serving.ledger import Ledger

MODE = click.Choice(["paper", "live"])


def _ledger() -> Ledger:
    return Ledger.open()


@click.group(help="The kill switch and live-trading enablement, recorded in the ledger with who and why.")
def trading() -> None:
    pass


def _lever(name: str, help: str, setter: str, on: bool, said: str, by_required: bool = False) -> None:
    """A ``trading`` command that appends one kill-switch or enablement event (who, why)."""
    by_option = (
        click.option("--by", required=True, help="the person who takes responsibility")
        if by_required
        else click.option("--by", default=getpass.getuser, show_default="your user name", help="who")
    )

    @trading.command(name, help=help)
    @by_option
    @click.option("--reason", required=True, help="why")
    def command(by: str, reason: str) -> None:
        getattr(_ledger().journal, setter)(on, by, reason)
        click.echo(f"{said} by {by}: {reason}")


_lever("kill", "Set the kill switch: the next order batch places nothing, in every mode.", "set_kill_switch", True, "kill switch SET")
_lever("resume", "Reset the kill switch: the next order batch trades again.", "set_kill_switch", False, "kill switch reset")
_lever(
    "enable-live",
    "Allow live orders (exchange keys must also be in the environment).",
    "set_live_enabled",
    True,
    "live trading ENABLED",
    by_required=True,  # never a default: a person puts their name to it
)
_lever("disable-live", "Refuse live orders from the next batch on.", "set_live_enabled", False, "live trading disabled")


@trading.command(help="Show the kill switch and live enablement, with who set them and why.")
def status() -> None:
    journal = _ledger().journal
    for name, switch in (("kill switch", journal.kill_switch()), ("live trading", journal.live_enabled())):
        state = ("ON" if switch.on else "off") if name == "kill switch" else ("ENABLED" if switch.on else "disabled")
        who = f" (by {switch.by} at {switch.at:%Y-%m-%d %H:%M:%S}Z: {switch.reason})" if switch.by else " (never set)"
        click.echo(f"{name}: {state}{who}")


@click.command(help="Print positions, cash and realised PnL from the trading ledger.")
@click.option("--mode", type=MODE, help="only this mode")
def positions(mode: str | None) -> None:
    bookkeeping = _ledger().bookkeeping
    rows = bookkeeping.positions(mode)
    _table(rows, ["mode", "strategy", "symbol", "quantity", "avg_price", "realized_pnl", "updated_at"], "no positions")
    _table(bookkeeping.cash(mode), ["mode", "strategy", "currency", "starting", "balance", "updated_at"], "no cash accounts")


@click.command(help="Print orders from the trading ledger, newest first, and the risk events.")
@click.option("--mode", type=MODE, help="only this mode")
@click.option("--limit", default=50, show_default=True, help="how many orders")
def orders(mode: str | None, limit: int) -> None:
    ledger = _ledger()
    columns = ["decision_bar", "mode", "strategy", "symbol", "side", "quantity", "filled_quantity", "status", "client_order_id", "reason_code"]
    _table(ledger.bookkeeping.orders(mode, limit=limit), columns, "no orders")
    events = ledger.journal.risk_events(mode)[-limit:]
    _table(events, ["decision_bar", "mode", "strategy", "kind", "code", "symbol", "detail"], "no risk events")


def _table(rows: list[dict], columns: list[str], empty: str) -> None:
    if not rows:
        click.echo(empty)
        return
    cells = [[_cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    click.echo("")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


@click.group(help="The paper trading path.")
def paper() -> None:
    pass


@paper.command(help="Replay the paper path over the lake's bars, tick by tick on a simulated clock, with the champions.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="UTC; first tick is 5m later")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M"]), help="UTC; last tick")
@click.option("--symbols", default=None, help="comma-separated lake keys (default: the universe)")
@click.option("--strategy", default="replay", show_default=True, help="the book the replay trades in the ledger")
def replay(start, end, symbols: str | None, strategy: str) -> None:
    from datetime import timezone

    from quant_assets import settings
    from serving.replay import replay_trader

    start, end = start.replace(tzinfo=timezone.utc), end.replace(tzinfo=timezone.utc)
    if end <= start:
        raise click.BadParameter("--end must be after --start")
    universe = settings.symbol_keys(symbols) if symbols else settings.universe()
    ledger = _ledger()
    run = replay_trader(ledger, universe, strategy)
    counts = {"orders": 0, "halts": 0, "no_champion": 0}

    def tally(report) -> None:
        counts["orders"] += len(report.orders)
        counts["halts"] += sum(len(h) for h in report.data_halts.values())
        counts["no_champion"] += len(report.no_champion)

    ticks = run.run(start, end, on_tick=tally)
    marks = run.trader.features.snapshot(universe, end)[1]
    equity = ledger.bookkeeping.equity("paper", strategy, {run.trader.ccxt(s): c for s, c in marks.items()})
    pnl = equity - run.trader.book.starting_cash
    click.echo(f"replayed {ticks} ticks {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} for {', '.join(universe)} "
               f"(book paper/{strategy}): {counts['orders']} orders, {counts['halts']} data halts, "
               f"{counts['no_champion']} symbol-horizon ticks without a champion; equity {equity:.2f}, PnL {pnl:+.2f}")  # fmt: skip
