"""Metrics against values computed by hand or by an independent route."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation import metrics, strategy
from quant_assets_tests.evaluation.synthetic_series import HOUR, UTC, frame, series


def s(values) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64)


def test_rank_ic_is_spearman_over_known_pairs():
    p = np.array([0.3, -0.1, 0.2, 0.5, -0.4, 0.0, 0.1])
    y = np.array([0.02, 0.01, -0.01, 0.03, -0.02, 0.01, 0.00])

    # Independent route: Pearson of average ranks.
    def ranks(x):
        return pl.Series(x).rank("average").to_numpy()

    expected = np.corrcoef(ranks(p), ranks(y))[0, 1]
    assert metrics.rank_ic(s(p), s(y)) == pytest.approx(expected)
    # Unknown labels and NaN predictions are left out, not counted as zero.
    assert metrics.rank_ic(s([*p, np.nan, 9.0]), s([*y, 5.0, None])) == pytest.approx(expected)
    assert metrics.rank_ic(s(p), s(np.exp(y))) == pytest.approx(expected)  # ranks only
    assert math.isnan(metrics.rank_ic(s([1.0, 1.0, 1.0]), s([1.0, 2.0, 3.0])))


def test_hit_rate_counts_signs_and_leaves_out_zero_calls():
    p = s([0.1, -0.2, 0.3, 0.0, -0.1, 0.2])
    y = s([0.5, 0.1, 0.2, 0.4, -0.3, 0.0])
    assert metrics.hit_rate(p, y) == pytest.approx(3 / 4)


def test_annualised_sharpe_uses_365_days_and_is_zero_when_flat():
    assert metrics.annualised_sharpe(np.array([0.01, 0.03])) == pytest.approx(0.02 / math.sqrt(2e-4) * math.sqrt(365))
    assert metrics.annualised_sharpe(np.zeros(10)) == 0.0
    assert math.isnan(metrics.annualised_sharpe(np.array([0.01])))


def test_max_drawdown_is_the_largest_fall_of_equity_from_its_peak():
    pnl = np.log([2.0, 0.5, 0.5, 4.0, 0.9])  # equity 2, 1, 0.5, 2, 1.8
    assert metrics.max_drawdown(pnl) == pytest.approx(0.75)
    assert metrics.max_drawdown(np.log([0.8, 1.5])) == pytest.approx(0.2)  # from the start at 1
    assert metrics.max_drawdown(np.array([0.01, 0.02])) == 0.0


def test_calibration_buckets_by_prediction_quantile():
    p = np.arange(100, dtype=float)
    got = metrics.calibration(s(p), s(2 * p), buckets=4)
    assert got["rows"].to_list() == [25] * 4
    assert got["predicted"].to_list() == pytest.approx([12.0, 37.0, 62.0, 87.0])
    assert got["realised"].to_list() == pytest.approx([24.0, 74.0, 124.0, 174.0])
    # Ties (a model that says the same thing often) still give full, equal buckets.
    tied = metrics.calibration(s([0.0] * 50 + [1.0] * 50), s([0.0] * 100), buckets=5)
    assert tied["rows"].to_list() == [20] * 5


def test_the_last_row_of_a_day_is_booked_to_that_day():
    t = [datetime(2025, 10, 7, 23, tzinfo=UTC), datetime(2025, 10, 8, 0, tzinfo=UTC), datetime(2025, 10, 8, 1, tzinfo=UTC)]
    out = strategy.baseline(frame(t, label=[0.01, 0.02, 0.04]), "buy_and_hold", horizon=HOUR, cost=0.0)
    daily = metrics.daily_pnl(out)
    assert daily["day"].to_list() == [date(2025, 10, 7), date(2025, 10, 8)]
    assert daily["pnl"].to_list() == pytest.approx([0.03, 0.04])


def test_summarise_gives_every_figure_per_family_and_horizon():
    days = 3
    f = series(date(2025, 10, 7), days, skill=0.6, seed=5)
    rows = []
    for family, skill_sign in (("lgbm", 1.0), ("net", -1.0)):
        for name, h in (("1h", HOUR), ("4h", 4 * HOUR)):
            g = f.with_columns(prediction=pl.col("prediction") * skill_sign)
            rows.append(strategy.reference(g, horizon=h).with_columns(family=pl.lit(family), horizon=pl.lit(name)))
    summary = metrics.summarise(pl.concat(rows))
    assert set(summary) == {("lgbm", "1h"), ("lgbm", "4h"), ("net", "1h"), ("net", "4h")}
    good, bad = summary[("lgbm", "1h")], summary[("net", "1h")]
    assert good["rank_ic"] > 0.3 and bad["rank_ic"] == pytest.approx(-good["rank_ic"])
    assert good["hit_rate"] == pytest.approx(1 - bad["hit_rate"])
    assert good["decisions"] == 24 * days and summary[("lgbm", "4h")]["decisions"] == 6 * days
    assert good["pnl"] > 0 > bad["pnl"]
    one = strategy.reference(f, horizon=HOUR)
    assert good["trades"] == int((one["trade_size"] > 0).sum())
    assert good["turnover"] == pytest.approx(one["trade_size"].sum() / days)
    assert good["daily_sharpe"] == pytest.approx(metrics.annualised_sharpe(metrics.daily_pnl(one)["pnl"].to_numpy()))
    assert len(good["calibration"]) == metrics.CALIBRATION_BUCKETS
    assert [b["predicted"] for b in good["calibration"]] == sorted(b["predicted"] for b in good["calibration"])


def test_trades_count_changes_against_the_carried_position_and_the_final_position_states_its_exit_cost():
    t = [datetime(2025, 10, 8, h, tzinfo=UTC) for h in (1, 2, 3)]
    f = frame(t, prediction=[0.0522, 0.0522, -0.0522], vol=[0.01] * 3, label=[0.01, 0.02, -0.01])
    carried = metrics.series_figures(strategy.reference(f, horizon=HOUR, cost=0.0022, initial_position=1.0))
    flat = metrics.series_figures(strategy.reference(f, horizon=HOUR, cost=0.0022))
    assert carried["trades"] == 1 and flat["trades"] == 2  # holding the carried long is no trade
    assert carried["pnl"] == pytest.approx(0.01 + 0.02 + 0.01 - 2 * 0.0011)  # the flip only; no exit charged
    assert carried["final_position"] == -1.0 and carried["exit_cost"] == pytest.approx(0.0011)


def test_rank_ic_and_hit_rate_without_a_known_pair_are_nan():
    # a series whose labels are all still unknown (the study's last days), or nothing at all
    assert math.isnan(metrics.rank_ic(s([0.1, 0.2, 0.3]), s([None, None, None])))
    assert math.isnan(metrics.rank_ic(s([]), s([])))
    assert math.isnan(metrics.hit_rate(s([0.1, 0.2]), s([None, None])))
