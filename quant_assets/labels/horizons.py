"""The prediction horizons, and the embargo they imply.

A label at decision time ``t`` for horizon ``h`` is known at ``t + h``. Anything trained on
labels must therefore stop at least the longest horizon, plus one bar for the bar that
closes at ``t + h``, before the first moment it is used: that is the embargo. It is
derived here and nowhere configured below it.
"""

from __future__ import annotations

import math
from datetime import timedelta

from quant_assets.timegrid import BAR

HORIZONS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
}
HORIZON_NAMES: tuple[str, ...] = tuple(HORIZONS)
LONGEST: timedelta = max(HORIZONS.values())
# Days after D whose bars a label of day D may need (t + 7d for t up to D+1 00:00 is the
# bar opened at D+7 23:55, in day D+7's partition).
LOOKAHEAD_DAYS: int = math.ceil(LONGEST / timedelta(days=1))


def embargo() -> timedelta:
    """Longest horizon plus one bar: the least gap between a fit's end and its first use."""
    return LONGEST + BAR


def parse_horizons(raw: str) -> tuple[str, ...]:
    """``"1h,1d"`` -> ("1h", "1d"), in the canonical order; one clear error for an unknown name."""
    wanted = [h.strip() for h in raw.split(",") if h.strip()]
    unknown = [h for h in wanted if h not in HORIZONS]
    if unknown or not wanted:
        raise ValueError(f"unknown horizon(s) {unknown or raw!r}; known: {', '.join(HORIZON_NAMES)}")
    return tuple(h for h in HORIZON_NAMES if h in wanted)
