"""The pure half of ``quant-assets evaluate``: a fixed model over several days through
oos_eval's own code, the first unseen day, pending labels left out, walk-forward sub-windows."""

from datetime import date, datetime, timedelta, timezone

import polars as pl
import pytest

from quant_assets.evaluation import oos, range_eval
from quant_assets.labels.horizons import HORIZON_NAMES, embargo
from quant_assets_tests.evaluation.synthetic_series import oos_day

COST = 0.0022
FIT = oos.Fit("models:/m-1", datetime(2025, 10, 27, tzinfo=timezone.utc) - embargo())
AS_OF = datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_the_first_unseen_day_starts_at_or_after_fit_end_plus_embargo():
    midnight = datetime(2025, 11, 3, tzinfo=timezone.utc)
    assert range_eval.first_unseen_day(midnight - embargo(), embargo()) == date(2025, 11, 3)
    assert range_eval.first_unseen_day(midnight - embargo() + timedelta(microseconds=1), embargo()) == date(2025, 11, 4)
    assert range_eval.first_unseen_day(midnight - embargo() - timedelta(minutes=5), embargo()) == date(2025, 11, 3)


def _days(first: date, n: int, unknown_from: int | None = None):
    """n days; from day ``unknown_from`` on, the 7d and 1d labels are not in the labels asset."""
    out, predictions = [], {}
    for i in range(n):
        day = first + timedelta(days=i)
        known = HORIZON_NAMES if unknown_from is None or i < unknown_from else ("1h", "4h")
        features, labels, predictions[day] = oos_day(day, seed=i, known=known, cost=COST)
        out.append(range_eval.Day(day, features, labels))
    return out, predictions


def test_each_day_is_oos_evaluate_day_carrying_the_previous_close_and_pending_horizons_are_left_out():
    days, predictions = _days(date(2025, 11, 3), 5, unknown_from=3)
    by_first_t = {d.features["t"].min(): predictions[d.day] for d in days}
    result = range_eval.evaluate_range(days, lambda f: by_first_t[f["t"].min()], FIT, ("1h", "7d"), cost=COST, as_of=AS_OF)
    assert result.days == {"1h": [d.day for d in days], "7d": [d.day for d in days[:3]]}
    assert result.pending == {"1h": [], "7d": [d.day for d in days[3:]]}
    assert result.flat_starts == [days[0].day]
    carry = {}
    for d in days:  # a pending day still carries its positions into the next (they never wait on labels)
        alone = oos.evaluate_day(d.features, d.labels, predictions[d.day], FIT, cost=COST, carry=carry)
        carry = oos.closing_positions(alone)
        kept = alone.filter(pl.col("horizon").is_in(["1h", "7d"] if d in days[:3] else ["1h"]))
        assert result.rows.filter(pl.col("day") == d.day).drop("day").equals(kept)
    # a day missing from the lake breaks the book: the day after it opens flat, and says so
    gap = range_eval.evaluate_range([days[0], days[2]], lambda f: by_first_t[f["t"].min()], FIT, ("1h",), cost=COST, as_of=AS_OF)
    assert gap.flat_starts == [days[0].day, days[2].day]
    assert set(result.rows["horizon"].unique()) == {"1h", "7d"}
    assert (result.rows.filter(pl.col("model_uri").is_not_null())["model_uri"] == FIT.model_uri).all()


def test_walk_forward_cuts_the_range_into_the_gates_sub_windows_or_fewer():
    days, predictions = _days(date(2025, 11, 3), 9)
    by_first_t = {d.features["t"].min(): predictions[d.day] for d in days}
    rows = range_eval.evaluate_range(days, lambda f: by_first_t[f["t"].min()], FIT, ("1h",), cost=COST, as_of=AS_OF).rows
    wf = range_eval.walk_forward(rows, "lgbm", "1h", windows=4)
    assert wf["windows"] == 4 and wf["days"] == 9 and len(wf["sharpes"]) == 4
    assert wf["low"] == min(wf["sharpes"]) <= wf["estimate"] <= wf["high"] == max(wf["sharpes"])
    assert wf["estimate"] == pytest.approx(sum(wf["sharpes"]) / 4)
    assert range_eval.walk_forward(rows, "lgbm", "1h", windows=10)["windows"] == 4  # two days a window at least
    one_day = rows.filter(pl.col("day") == days[0].day)
    assert range_eval.walk_forward(one_day, "lgbm", "1h")["windows"] == 0
