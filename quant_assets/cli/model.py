"""``quant-assets model promote|rollback|status``: a person moves ``champion``.

The gate sets ``challenger``; only these commands (or a person in the MLflow UI) move
``champion``. Every refusal is one line and exit 1 (see ``quant_assets.registry.aliases``).
"""

from __future__ import annotations

import getpass
from datetime import datetime, timezone

import click

from quant_assets.labels.horizons import HORIZON_NAMES


def _client():
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    return Tracking(MlflowStore.from_env()).client


def _symbol(value: str) -> str:
    from quant_assets.cli.bundle import _symbol_key

    try:
        return _symbol_key(value)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--symbol") from None


def _refusing(action):
    """Run ``action``; a refusal becomes its one line, exit 1."""
    from quant_assets.registry.aliases import Refused

    try:
        return action()
    except Refused as err:
        raise click.ClickException(str(err)) from None


SYMBOL = click.option("--symbol", required=True, help="symbol, BTC-USDT or BTC/USDT")
HORIZON = click.option("--horizon", required=True, type=click.Choice(HORIZON_NAMES), help="horizon of the registered model")
BY = click.option("--by", default=None, help="who does it (recorded; default: the login name)")


@click.group(help="Promote a model version to champion, roll champion back, or show champion and challenger.")
def model() -> None:
    pass


@model.command(help="Make a version champion (default: the current challenger). A version without a passing gate "
                    "verdict, or whose symbol's portfolio verdict did not pass, is refused unless --force --reason says why.")  # fmt: skip
@SYMBOL
@HORIZON
@click.option("--version", default=None, help="model version (default: the challenger)")
@click.option("--force", is_flag=True, help="promote a version without passing verdicts (needs --reason)")
@click.option("--reason", default=None, help="why; recorded on the version")
@BY
def promote(symbol, horizon, version, force, reason, by) -> None:
    from quant_assets.registry import aliases

    move = _refusing(lambda: aliases.promote(_client(), _symbol(symbol), horizon, version=version, force=force, reason=reason,
                                             by=by or getpass.getuser()))  # fmt: skip
    click.echo(f"{move.name}: champion is version {move.version} (was {move.previous or 'none'})")


@model.command(help="Move champion back to the previous champion; refused when there is none.")
@SYMBOL
@HORIZON
@BY
def rollback(symbol, horizon, by) -> None:
    from quant_assets.registry import aliases

    move = _refusing(lambda: aliases.rollback(_client(), _symbol(symbol), horizon, by=by or getpass.getuser()))
    click.echo(f"{move.name}: champion is version {move.version} again (was {move.previous})")


def _age(created: datetime | None, now: datetime) -> str:
    if created is None:
        return "-"
    seconds = max(int((now - created).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


@model.command(help="Per symbol and horizon: champion and challenger, their gate verdicts and ages, and beside the "
                    "challenger the symbol's portfolio verdict (the combined book serving would trade).")  # fmt: skip
def status() -> None:
    from quant_assets.registry import aliases

    states = aliases.status(_client())
    if not states:
        click.echo("no registered quant_assets models yet")
        return
    now = datetime.now(timezone.utc)
    click.echo(
        f"{'symbol':<12} {'horizon':<7} {'champion':<9} {'verdict':<16} {'age':<8} {'challenger':<10} {'verdict':<16} {'portfolio':<16} {'age':<8}"
    )
    for s in states:
        cells = [(f"v{a.version}" if a.version else "none", a.verdict, _age(a.created, now)) for a in (s.champion, s.challenger)]
        (cv, cvd, ca), (lv, lvd, la) = cells
        click.echo(f"{s.symbol:<12} {s.horizon:<7} {cv:<9} {cvd:<16} {ca:<8} {lv:<10} {lvd:<16} {s.challenger.portfolio:<16} {la:<8}")
