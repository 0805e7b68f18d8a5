"""When is a day's evaluation complete? When every label of its rows is known.

Day D's rows run to t = D+1 00:00 (the bar closing at midnight), and a label over
horizon h is known at t + h. So horizon h of day D is complete once D+1 + h <= as_of,
and the day is complete once its longest horizon is (D+1 + 7d for the usual set).
Before that, oos_eval materialises the day as partial and names what is still missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, timezone


def missing_horizons(day: date, horizons: Mapping[str, timedelta], as_of: datetime) -> list[str]:
    """Names of the horizons whose labels for ``day`` are not all known at ``as_of``."""
    if as_of.tzinfo is None:
        raise ValueError(f"completeness: as_of {as_of} must be timezone-aware (UTC)")
    last_row = datetime.combine(day + timedelta(days=1), time(), tzinfo=timezone.utc)
    return [name for name, h in horizons.items() if last_row + h > as_of]
