"""A day is complete only when its longest label is known; earlier, it says what is missing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets.evaluation.completeness import missing_horizons

UTC = timezone.utc
HORIZONS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1), "7d": timedelta(days=7)}
D = date(2025, 10, 7)
MIDNIGHT_AFTER = datetime(2025, 10, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("as_of", "missing"),
    [
        (MIDNIGHT_AFTER, ["1h", "4h", "1d", "7d"]),
        (MIDNIGHT_AFTER + timedelta(hours=1) - timedelta(microseconds=1), ["1h", "4h", "1d", "7d"]),
        (MIDNIGHT_AFTER + timedelta(hours=1), ["4h", "1d", "7d"]),
        (MIDNIGHT_AFTER + timedelta(days=1), ["7d"]),
        (MIDNIGHT_AFTER + timedelta(days=7) - timedelta(minutes=5), ["7d"]),
        (MIDNIGHT_AFTER + timedelta(days=7), []),
    ],
)
def test_a_horizon_is_complete_once_the_last_rows_label_is_known(as_of, missing):
    assert missing_horizons(D, HORIZONS, as_of) == missing


def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        missing_horizons(D, HORIZONS, datetime(2025, 10, 20))


def test_a_verdict_for_d_counts_only_days_whose_labels_were_known_at_d_midnight():
    from quant_assets.evaluation.completeness import evidence_days, labels_known_at
    from quant_assets.labels.horizons import HORIZONS as ALL
    from quant_assets_tests.evaluation.planted_oos_days import planted_labels

    day = date(2025, 10, 20)
    known = {d: labels_known_at(planted_labels(d), ALL) for d in (date(2025, 10, 11), date(2025, 10, 12), date(2025, 10, 19))}
    assert known[date(2025, 10, 12)] == datetime(2025, 10, 20, tzinfo=UTC), "the 7d label of the bar closing at D-7 midnight"
    assert evidence_days(known, day) == [date(2025, 10, 11), date(2025, 10, 12)]
    one_missing = planted_labels(date(2025, 10, 11)).with_columns(label_missing_7d=pl.Series([True] + [False] * 287))
    assert labels_known_at(one_missing, ALL) is None, "a label not computable yet is not known at any time"
