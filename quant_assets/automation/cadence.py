"""When the source refreshes run: settings, checked when the code location loads.

The daily run starts ``QUANT_ASSETS_DAILY_MINUTE`` minutes after 00:00 UTC, once the day's last
5m bar (23:55) and last hourly derivatives (23:00) have closed and the exchange has published
them. The intraday refresh re-reads today's partial partition every
``QUANT_ASSETS_INTRADAY_MINUTES`` minutes; it must tile the day on the 5m bar grid so that
every refresh lands on a bar close and the refreshes of one day are the same every day.
"""

from __future__ import annotations

from quant_assets import settings

DAY_MINUTES = 24 * 60
BAR_MINUTES = 5


def _intraday_minutes(raw: str) -> int:
    minutes = settings.bounded(int, BAR_MINUTES, DAY_MINUTES)(raw)
    if minutes % BAR_MINUTES or DAY_MINUTES % minutes:
        raise ValueError(f"{minutes} minutes does not divide a day into whole 5m bars")
    if minutes > 60 and minutes % 60:
        raise ValueError("above an hour it must be whole hours")
    return minutes


def daily_minute() -> int:
    """Minutes after 00:00 UTC at which yesterday's partitions are materialized (default 10)."""
    return settings.current().automation.daily_minute


def intraday_minutes() -> int:
    """Minutes between refreshes of today's partial partition (default 60)."""
    return settings.declared("QUANT_ASSETS_INTRADAY_MINUTES").refine(_intraday_minutes)


def daily_cron() -> str:
    return f"{daily_minute()} 0 * * *"


def intraday_cron() -> str:
    minutes = intraday_minutes()
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = minutes // 60
    return {1: "0 * * * *", 24: "0 0 * * *"}.get(hours, f"0 */{hours} * * *")
