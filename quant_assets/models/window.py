"""Fit windows: which rows a model serving day D may learn from.

The model of partition ``(D, S)`` is fitted at D's refit-cadence anchor ``A <= D`` (anchors
are every ``refit_days`` days from a fixed epoch, so they do not depend on which days a run
covers): every day that shares an anchor shares one fit. The fit ends an embargo before the
anchor's start, ``fit_end = A 00:00 - embargo`` with ``embargo = longest horizon + one bar``,
and starts ``train_days`` before the anchor. A training row must also have its label known
by ``fit_end`` (purging, done in :mod:`quant_assets.models.dataset`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from quant_assets.labels.horizons import embargo

# A Monday: with the default 7-day cadence, fits are anchored on Mondays.
CADENCE_EPOCH = date(1970, 1, 5)
MIN_TRAIN_DAYS = 14


@dataclass(frozen=True)
class FitWindow:
    symbol: str
    anchor: date  # first day this fit serves
    start: datetime  # training rows have start < t <= end
    end: datetime  # fit end: no training row, nor its label, is later than this
    embargo: timedelta

    @property
    def anchor_start(self) -> datetime:
        return datetime.combine(self.anchor, time(0), tzinfo=timezone.utc)

    @property
    def days(self) -> list[date]:
        """The UTC days whose feature and label partitions hold the window's rows."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def describe(self) -> dict[str, str]:
        return {
            "fit_anchor": self.anchor.isoformat(),
            "fit_start": self.start.isoformat(),
            "fit_end": self.end.isoformat(),
            "embargo": str(self.embargo),
        }


def anchor_for(day: date, refit_days: int) -> date:
    """The cadence anchor of ``day``: the latest anchor on or before it."""
    return day - timedelta(days=(day - CADENCE_EPOCH).days % refit_days)


def fit_window(day: date, symbol: str, train_days: int, refit_days: int) -> FitWindow:
    """The window of the model that serves ``day`` for ``symbol``."""
    validate(train_days, refit_days)
    anchor = anchor_for(day, refit_days)
    anchor_start = datetime.combine(anchor, time(0), tzinfo=timezone.utc)
    gap = embargo()
    return FitWindow(symbol, anchor, anchor_start - timedelta(days=train_days), anchor_start - gap, gap)


def validate(train_days: int, refit_days: int) -> None:
    if refit_days < 1:
        raise ValueError(f"QUANT_ASSETS_REFIT_DAYS={refit_days}: expected a whole number of days >= 1")
    if train_days < MIN_TRAIN_DAYS:
        raise ValueError(f"QUANT_ASSETS_TRAIN_DAYS={train_days}: expected >= {MIN_TRAIN_DAYS} (the embargo alone takes {embargo()} of the window)")


def upstream_day_offsets(train_days: int, refit_days: int) -> tuple[int, int]:
    """The day offsets (relative to D) a model partition may read: its window at any anchor."""
    # The window ends ``embargo`` before the anchor (<= D), so in day D - ceil(embargo) at the latest.
    return -(train_days + refit_days - 1), -math.ceil(embargo() / timedelta(days=1))
