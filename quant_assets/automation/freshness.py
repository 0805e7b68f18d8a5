"""How stale each source may be, as Dagster freshness policies (the limits: ``catalog``).

A consumer tolerates a source's newest record being at most ``max_age`` old
(``quant_assets.catalog``, which the serving data halt reads too): a trading tick halts a
symbol whose newest bar closed more than ``max_bar_age()`` before the tick, and the same limits
make the source assets' Dagster ``FreshnessPolicy``, so the UI marks a source overdue on the
same terms.

The lake is refreshed every ``QUANT_ASSETS_INTRADAY_MINUTES``, and a materialization at ``m``
holds every record closed by ``m``; so between refreshes the lake's newest record is up to one
cadence older than at ``m``. A source asset is therefore overdue when it was last materialized
more than ``cadence + max_age`` ago: a refresh was missed, and what the lake holds is older than
a consumer tolerates. (Dagster 1.13 judges a time-window policy by the asset's last
materialization of any partition, which is what an intraday refresh of today's partition renews.)
"""

from __future__ import annotations

from datetime import timedelta

from dagster import FreshnessPolicy

from quant_assets.automation.cadence import intraday_minutes
from quant_assets.catalog import max_age, max_bar_age  # noqa: F401 - max_bar_age: the bars' limit, read here too


def overdue_after(asset: str) -> timedelta:
    """How long after its last materialization a source asset is overdue (see the module doc)."""
    return timedelta(minutes=intraday_minutes()) + max_age(asset)


def source_policy(asset: str) -> FreshnessPolicy:
    """The ``FreshnessPolicy`` a source asset declares: overdue past ``overdue_after``."""
    return FreshnessPolicy.time_window(fail_window=overdue_after(asset))
