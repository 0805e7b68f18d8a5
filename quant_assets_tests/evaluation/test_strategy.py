"""The reference strategy: the formula, the decision grid, costs, baselines, gaps, and
that a position never depends on what is only known later."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation import strategy
from quant_assets_tests.evaluation.synthetic_series import HOUR, UTC, frame, series

COST = 0.0022
D = datetime(2025, 10, 7, tzinfo=UTC)


def hours(n: int) -> list[datetime]:
    return [D + HOUR * i for i in range(1, n + 1)]


def test_reference_position_is_cost_shrunk_edge_over_vol_clipped():
    f = frame(hours(5), prediction=[0.0122, -0.0122, -0.0522, 0.0010, -0.0022], vol=[0.02, 0.02, 0.01, 0.02, 1e-12], label=[0.0] * 5)
    got = strategy.reference(f, horizon=HOUR, cost=COST)["position"].to_list()
    # 0.01/0.02; symmetric short; -0.05/0.01 clipped; inside one round trip: no edge;
    # exactly one round trip: no edge even with a vanishing vol.
    assert got == pytest.approx([0.5, -0.5, -1.0, 0.0, 0.0])


def test_decides_on_the_horizons_grid_and_holds_between():
    f = series(date(2025, 10, 7), 1, skill=0.5, seed=1)
    out = strategy.reference(f, horizon=timedelta(hours=4), cost=COST)
    decisions = out.filter("is_decision")["t"].to_list()
    assert [t.hour for t in decisions] == [4, 8, 12, 16, 20, 0]
    assert out.filter(pl.col("t") < D + 4 * HOUR)["position"].unique().to_list() == [0.0]
    # Between two decisions the position is the earlier decision's, and no trade happens.
    held = out.filter((pl.col("t") >= D + 4 * HOUR) & (pl.col("t") < D + 8 * HOUR))
    assert held["position"].n_unique() == 1
    assert held["trade_size"][1:].sum() == 0.0
    assert out.filter(~pl.col("is_decision"))["pnl"].null_count() == out.height - 6


def test_pnl_is_position_times_label_less_half_a_round_trip_per_unit_of_change():
    f = frame(hours(3), prediction=[0.0122, -0.0122, -0.0122], vol=[0.02] * 3, label=[0.01, -0.02, 0.03])
    got = strategy.reference(f, horizon=HOUR, cost=COST)["pnl"].to_list()
    assert got == pytest.approx(
        [
            0.5 * 0.01 - 0.5 * COST / 2,
            -0.5 * -0.02 - 1.0 * COST / 2,
            -0.5 * 0.03 - 0.0,
        ]
    )


def test_baselines_flat_buy_and_hold_pays_entry_once_momentum_follows_the_trailing_sign():
    labels = [0.01, -0.02, 0.03, 0.005]
    f = frame(hours(4), label=labels, momentum=[1.5, -0.2, -0.1, 3.0])
    flat = strategy.baseline(f, "flat", horizon=HOUR, cost=COST)
    assert flat["pnl"].to_list() == [0.0] * 4 and flat["trade_size"].sum() == 0
    bh = strategy.baseline(f, "buy_and_hold", horizon=HOUR, cost=COST)
    assert bh["pnl"].sum() == pytest.approx(sum(labels) - COST / 2)
    assert bh["trade_size"].to_list() == [1.0, 0.0, 0.0, 0.0]
    mom = strategy.baseline(f, "momentum", horizon=HOUR, cost=COST)
    assert mom["position"].to_list() == [1.0, -1.0, -1.0, 1.0]
    assert mom["pnl"].sum() == pytest.approx(0.01 + 0.02 - 0.03 + 0.005 - (1 + 2 + 0 + 2) * COST / 2)
    with pytest.raises(ValueError, match="baseline 'random'"):
        strategy.baseline(f, "random", horizon=HOUR)


def test_a_decision_without_label_trades_as_serving_would_and_one_without_prediction_holds():
    f = frame(hours(4), prediction=[0.0122, -0.0522, float("nan"), -0.0522], vol=[0.02] * 4, label=[0.01, None, 0.02, -0.01])
    out = strategy.reference(f, horizon=HOUR, cost=COST)
    # the label plays no part in deciding: a position never waits for its outcome to be known
    assert out["decided"].to_list() == [True, True, False, True]
    assert out["evaluable"].to_list() == [True, False, False, True]
    assert out["position"].to_list() == pytest.approx([0.5, -1.0, -1.0, -1.0])
    assert out["pnl"].to_list()[1:3] == [None, None]
    # The change is charged once, when it really happens, against the held position.
    assert out["trade_size"].to_list() == pytest.approx([0.5, 1.5, 0.0, 0.0])
    assert out["pnl"][3] == pytest.approx(0.01)
    assert out["exit_cost"].to_list() == pytest.approx([0.5 * COST / 2] + [COST / 2] * 3)


def test_a_day_alone_decides_and_books_as_the_whole_range_does():
    both = series(date(2025, 10, 7), 2, skill=0.4, seed=2)
    whole = strategy.reference(both, horizon=timedelta(hours=4), cost=COST)
    first = strategy.reference(both[:288], horizon=timedelta(hours=4), cost=COST)
    second = strategy.reference(both[288:], horizon=timedelta(hours=4), cost=COST, initial_position=first["position"][-1])
    glued = pl.concat([first, second])
    assert glued["position"].to_list() == whole["position"].to_list()
    assert glued["pnl"].to_list() == whole["pnl"].to_list()
    assert glued["trade_size"].to_list() == whole["trade_size"].to_list()


def test_buy_and_hold_over_ten_days_one_book_pays_its_entry_once():
    days = series(date(2025, 10, 7), 10, skill=0.0, seed=4)
    carried, flat_each_day = 0.0, []
    trades = cost_paid = 0.0
    for i in range(10):
        day = days[288 * i : 288 * (i + 1)]
        run = strategy.baseline(day, "buy_and_hold", horizon=HOUR, cost=COST, initial_position=carried)
        carried = run["position"][-1]
        trades += (run["trade_size"] > strategy.TRADE_EPS).sum()
        cost_paid += run["label"].filter(run["evaluable"]).sum() - run["pnl"].sum()
        flat_each_day.append(strategy.baseline(day, "buy_and_hold", horizon=HOUR, cost=COST))
    assert trades == 1 and cost_paid == pytest.approx(COST / 2)
    # what a day-by-day book that starts flat (the old oos_eval) paid: ten entries
    assert sum((r["trade_size"] > 0).sum() for r in flat_each_day) == 10
    # the span's last row states the exit cost of the open position; it is not charged
    assert run["exit_cost"][-1] == pytest.approx(COST / 2) and run["position"][-1] == 1.0


def _positions_ignore_the_future(rule, needs, f, k: int) -> bool:
    """Scramble every label from row k on (labels are only known later) and the inputs
    after row k: the positions up to row k must not move."""
    rng = np.random.default_rng(0)
    later = f.with_columns(
        label=pl.when(pl.int_range(pl.len()) >= k).then(pl.lit(rng.normal(size=f.height) * 0.05)).otherwise("label"),
        prediction=pl.when(pl.int_range(pl.len()) > k).then(-pl.col("prediction")).otherwise("prediction"),
    )
    a = strategy.simulate(f, rule, needs, horizon=HOUR)["position"][: k + 1]
    b = strategy.simulate(later, rule, needs, horizon=HOUR)["position"][: k + 1]
    return a.to_list() == b.to_list()


def test_positions_use_nothing_known_after_the_decision_and_a_planted_peek_is_caught():
    f = series(date(2025, 10, 7), 1, skill=0.5, seed=3)
    k = 143  # 12:00, a decision instant
    assert f["t"][k] == D + 12 * HOUR
    assert _positions_ignore_the_future(strategy.reference_position(cost=COST), ["prediction", "vol"], f, k)
    # A rule that peeks at its own label, the classic leak, is what the property catches.
    peek = strategy.reference_position(cost=COST) + pl.col("label").sign()
    assert not _positions_ignore_the_future(peek, ["prediction", "vol"], f, k)


def test_bad_input_is_one_line_naming_the_column_or_row():
    f = frame(hours(3), prediction=[0.0] * 3, label=[0.0] * 3)
    with pytest.raises(ValueError, match=r"column\(s\) vol missing"):
        strategy.reference(f, horizon=HOUR)
    swapped = frame(hours(3)[::-1], prediction=[0.0] * 3, label=[0.0] * 3, vol=[0.01] * 3)
    with pytest.raises(ValueError, match="not strictly increasing at row 1"):
        strategy.reference(swapped, horizon=HOUR)
    with pytest.raises(ValueError, match="cost 1.5"):
        strategy.reference(f.with_columns(vol=pl.lit(0.01)), horizon=HOUR, cost=1.5)
