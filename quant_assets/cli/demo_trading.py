"""The demo's last step: champions for the sample's models, then ``paper replay`` of its last days.

The system never moves ``champion``. The demo script, run by a person, does it on that
person's behalf and says so: a version the gate passed (``challenger``) is promoted as it is;
where no verdict passed (on the sample's few weeks the gate's minimum days are not met) the
newest version is promoted with ``--force`` and ``DEMO_REASON``, recorded on the version like
any forced promotion. A name that already has a champion keeps it. The live sensor is not
touched: it stays STOPPED.
"""

from __future__ import annotations

import getpass
from datetime import datetime

import click

from quant_assets.labels.horizons import HORIZON_NAMES

DEMO_REASON = "demo: no verdict passed on the sample's few weeks"


def crown_for_demo(symbols: list[str], echo=click.echo) -> int:
    """Champion for every registered (symbol, horizon) of ``symbols`` that has none; returns how many moved."""
    from quant_assets.registry import aliases
    from quant_assets.registry.names import CHALLENGER, CHAMPION, registered_name
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    client = Tracking(MlflowStore.from_env()).client
    by = f"{getpass.getuser()} (through quant-assets demo)"
    moved = 0
    for symbol in symbols:
        for h in HORIZON_NAMES:
            name = registered_name(symbol, h)
            found = client.search_registered_models(filter_string=f"name = '{name}'")
            if not found:
                continue
            set_aliases = dict(found[0].aliases or {})
            if CHAMPION in set_aliases:
                continue
            if CHALLENGER in set_aliases:
                try:
                    move = aliases.promote(client, symbol, h, version=None, force=False, reason=None, by=by)
                    echo(f"  {name}: champion is version {move.version}, the challenger (its gate verdict passed)")
                    moved += 1
                    continue
                except aliases.Refused as why:  # e.g. the symbol's portfolio failed: said, then forced like the rest
                    echo(f"  {name}: the challenger is refused: {why}")
            newest = str(max(int(v.version) for v in client.search_model_versions(f"name = '{name}'")))
            aliases.promote(client, symbol, h, version=newest, force=True, reason=DEMO_REASON, by=by)
            echo(f"  {name}: champion is version {newest} by a FORCED promotion done by the demo script for you, "
                 f"not by the system: --force --reason \"{DEMO_REASON}\"")  # fmt: skip
            moved += 1
    return moved


def replay_window(last_day, days: int) -> tuple[datetime, datetime]:
    """The replay's (start, end] over the last ``days`` days through ``last_day``; the last tick
    leaves one bar of ``last_day`` for the fills of the last decision."""
    from datetime import time, timedelta

    start = datetime.combine(last_day - timedelta(days=days - 1), time())
    return start, datetime.combine(last_day, time(23, 50))
