"""How stale each source may be: one notion for Dagster's freshness policies and for serving.

A consumer tolerates a source's newest record being at most ``max_age`` old: a trading tick
halts a symbol whose newest bar closed more than ``max_bar_age()`` before the tick
(``serving.settings`` reads it from here), and the same limits make the source assets'
Dagster ``FreshnessPolicy``, so the UI marks a source overdue on the same terms.

The lake is refreshed every ``QUANT_ASSETS_INTRADAY_MINUTES``, and a materialisation at ``m``
holds every record closed by ``m``; so between refreshes the lake's newest record is up to one
cadence older than at ``m``. A source asset is therefore overdue when it was last materialised
more than ``cadence + max_age`` ago: a refresh was missed, and what the lake holds is older than
a consumer tolerates. (Dagster 1.13 judges a time-window policy by the asset's last
materialisation of any partition, which is what an intraday refresh of today's partition renews.)
"""

from __future__ import annotations

from datetime import timedelta

from dagster import FreshnessPolicy

from quant_assets import settings
from quant_assets.automation.cadence import intraday_minutes
from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.market.bars import BARS_ASSET
from quant_assets.social.text import SOCIAL_TEXT_ASSET

_positive_s = settings.bounded(float, 0, above=True)

# asset -> (setting, default seconds, what a record of that source is)
MAX_AGE_SETTINGS = {
    BARS_ASSET: ("QUANT_ASSETS_MAX_BAR_AGE_S", "600", "a closed 5m bar"),
    # hourly statistics are known only when their hour closes, and the exchange publishes late
    DERIVATIVES_ASSET: ("QUANT_ASSETS_MAX_DERIVATIVES_AGE_S", "7200", "an hourly derivatives record"),
    # scraped text arrives in daily files or bundles
    SOCIAL_TEXT_ASSET: ("QUANT_ASSETS_MAX_SOCIAL_AGE_S", "172800", "a social text item"),
}
RENAMED = {"QUANT_ASSETS_SERVING_MAX_BAR_AGE_S": "QUANT_ASSETS_MAX_BAR_AGE_S"}


def _refuse_renamed() -> None:
    for old, new in RENAMED.items():
        if settings.is_set(old):
            raise settings.SettingsError(f"{old} was renamed {new} (one limit for the lake and the serving halt); set {new} instead")


def max_age(asset: str) -> timedelta:
    """How old ``asset``'s newest record may be before a consumer stops trusting it."""
    _refuse_renamed()
    name, default, record = MAX_AGE_SETTINGS[asset]
    return timedelta(seconds=settings.read(name, default, _positive_s, f"seconds {record} may be old, e.g. {default}"))


def max_bar_age() -> timedelta:
    """The serving data halt's limit, and the bars' part of market_bars' freshness policy."""
    return max_age(BARS_ASSET)


def overdue_after(asset: str) -> timedelta:
    """How long after its last materialisation a source asset is overdue (see the module doc)."""
    return timedelta(minutes=intraday_minutes()) + max_age(asset)


def source_policy(asset: str) -> FreshnessPolicy:
    """The ``FreshnessPolicy`` a source asset declares: overdue past ``overdue_after``."""
    return FreshnessPolicy.time_window(fail_window=overdue_after(asset))
