"""Fit windows: the embargo is derived, fits share anchors, and the purge drops late labels."""

from datetime import date, datetime, timedelta, timezone

import pytest

from quant_assets.labels.horizons import embargo
from quant_assets.models.plan import plan_fits
from quant_assets.models.window import anchor_for, fit_window, upstream_day_offsets
from quant_assets.partitions import DaySymbol, days_between


def test_every_day_is_served_by_a_fit_that_ended_an_embargo_before_it():
    for day in days_between(date(2025, 1, 1), date(2025, 12, 31)):
        w = fit_window(day, "BTC-USDT", 90, 7)
        day_start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        assert w.end + embargo() <= day_start
        assert w.anchor <= day < w.anchor + timedelta(days=7)
        assert w.start == w.anchor_start - timedelta(days=90)


def test_the_window_lies_inside_the_partition_mapping():
    first, last = upstream_day_offsets(90, 7)
    for day in days_between(date(2025, 3, 1), date(2025, 3, 14)):
        w = fit_window(day, "BTC-USDT", 90, 7)
        assert day + timedelta(days=first) <= w.days[0] and w.days[-1] <= day + timedelta(days=last)


def test_a_year_for_ten_symbols_needs_about_fifty_fits_per_symbol():
    symbols = [f"S{i}-USDT" for i in range(10)]
    parts = [DaySymbol(d, s) for d in days_between(date(2025, 1, 1), date(2025, 12, 31)) for s in symbols]
    fits = plan_fits(parts, 90, 7)
    assert len(fits) == 10 * 53
    assert sum(len(f.serves) for f in fits) == len(parts)
    assert all(len({anchor_for(p.day, 7) for p in f.serves}) == 1 for f in fits)


def test_settings_below_the_embargo_are_refused():
    with pytest.raises(ValueError, match="QUANT_ASSETS_TRAIN_DAYS"):
        fit_window(date(2025, 10, 1), "BTC-USDT", 7, 7)
    with pytest.raises(ValueError, match="QUANT_ASSETS_REFIT_DAYS"):
        fit_window(date(2025, 10, 1), "BTC-USDT", 90, 0)
