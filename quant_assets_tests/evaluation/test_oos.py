"""oos_eval's pure parts: rows per (family, horizon) through the reference strategy, the
trailing inputs per horizon, the summary and what the checks re-derive."""

import json
import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation import oos, oos_verify, portfolio, strategy
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, embargo
from quant_assets.partitions import DaySymbol
from quant_assets_tests.evaluation.synthetic_series import oos_day

DAY = date(2025, 11, 5)  # a Wednesday: its last row, Thu 00:00, is a 7d decision
PART = DaySymbol(DAY, "BTC-USDT")
COST = 0.0022
FIT = oos.Fit("models:/m-1", datetime(2025, 10, 28, 23, 55, tzinfo=timezone.utc))


def _day(seed: int = 0, known=HORIZON_NAMES):
    return oos_day(DAY, seed=seed, known=known, cost=COST)


def test_every_family_the_model_returns_and_every_baseline_per_horizon():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    assert rows.schema == pl.Schema(oos.ROW_SCHEMA)
    families = {"lgbm", "lgbm_no_text", *strategy.BASELINES}
    # the portfolio (served family lgbm by default, every horizon weighted) books on the finest horizon
    assert set(rows.group_by("family", "horizon").len().iter_rows()) == {(f, h, 288) for f in families for h in HORIZON_NAMES} | {
        ("portfolio", "1h", 288)
    }
    # baselines predict nothing and name no fit; model rows name theirs
    base = rows.filter(pl.col("family").is_in(strategy.BASELINES))
    assert base["prediction"].null_count() == base.height and base["model_uri"].null_count() == base.height
    assert (rows.filter(pl.col("family") == "lgbm_no_text")["model_uri"] == FIT.model_uri).all()
    # the day starts flat: the first trade pays its entry
    bh = rows.filter((pl.col("family") == "buy_and_hold") & (pl.col("horizon") == "1h")).sort("t")
    first = bh.filter(pl.col("evaluable")).row(0, named=True)
    assert first["trade_size"] == 1.0 and first["pnl"] == pytest.approx(first["label"] - COST / 2)


def test_the_7d_series_uses_the_1d_volatility_scaled_to_seven_days():
    features, labels, predictions = _day()
    predictions = {"lgbm": np.full((features.height, 4), 0.05)}
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    last = features.sort("t").row(-1, named=True)  # Thu 00:00: the one 7d decision of the day
    decided = rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "7d") & pl.col("evaluable"))
    assert decided["t"].to_list() == [last["t"]]
    expected = min((0.05 - COST) / (last["rv_1d"] * math.sqrt(7)), 1.0)
    assert decided["position"][0] == pytest.approx(expected)
    mom = rows.filter((pl.col("family") == "momentum") & (pl.col("horizon") == "1h") & pl.col("evaluable")).sort("t")
    signs = features.sort("t").filter(pl.col("t").is_in(mom["t"].to_list()))["ret_1h"].sign()
    assert mom["position"].to_list() == signs.to_list()


def test_summary_keys_each_series_and_recomputes_from_the_rows():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    stored = {oos.SUMMARY_KEY: oos.summary_json(rows)}
    summary = json.loads(stored[oos.SUMMARY_KEY])
    assert "lgbm/1h" in summary and "flat/7d" in summary and summary["flat/1d"]["pnl"] == 0.0
    assert summary["flat/1h"]["rank_ic"] is None  # a baseline has no prediction to rank
    assert len(summary["lgbm/1h"]["calibration"]) == 5
    assert oos_verify.summary_problems(PART, rows, stored) == []
    tampered = json.loads(stored[oos.SUMMARY_KEY])
    tampered["lgbm/4h"]["pnl"] += 0.01
    problems = oos_verify.summary_problems(PART, rows, {oos.SUMMARY_KEY: json.dumps(tampered)})
    assert len(problems) == 1 and "/lgbm/4h/pnl" in problems[0] and str(PART) in problems[0]
    assert "no oos_summary footer" in oos_verify.summary_problems(PART, rows, {})[0]


def test_a_changed_label_is_named():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    assert oos_verify.label_problems(PART, rows, labels) == []
    t = rows["t"][100]
    changed = rows.with_columns(
        label=pl.when((pl.col("t") == t) & (pl.col("horizon") == "4h") & (pl.col("family") == "lgbm")).then(pl.col("label") + 1e-9).otherwise("label")
    )
    problems = oos_verify.label_problems(PART, changed, labels)
    assert len(problems) == 1 and f"lgbm 4h t={t}" in problems[0] and "1 rows" in problems[0]


def test_a_fit_ending_inside_the_embargo_is_named():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    record = {"model_uri": FIT.model_uri, "fit_end": FIT.fit_end}
    assert oos_verify.embargo_problems(PART, rows, record) == []
    late = PART.start - embargo() + timedelta(minutes=5)
    problems = oos_verify.embargo_problems(PART, rows, {"model_uri": FIT.model_uri, "fit_end": late})
    assert any("after the day starts" in p for p in problems)
    assert any("name a fit other than" in p for p in problems)  # the rows were made by another fit
    late_rows = oos.evaluate_day(features, labels, predictions, oos.Fit(FIT.model_uri, late), cost=COST)
    problems = oos_verify.embargo_problems(PART, late_rows, {"model_uri": FIT.model_uri, "fit_end": late})
    assert any(f"{(2 * 4 + 1) * 288} prediction rows from a fit ending less than" in p for p in problems)  # + the portfolio


def test_a_day_is_partial_until_its_longest_label_is_known():
    _, labels, _ = _day()
    seven_days_on = datetime(2025, 11, 6, tzinfo=timezone.utc) + timedelta(days=7)
    assert oos.day_missing_horizons(DAY, labels, seven_days_on - timedelta(minutes=5)) == ["7d"]
    assert oos.day_missing_horizons(DAY, labels, seven_days_on) == []
    _, unlabelled, _ = _day(known=("1h", "4h"))  # time has passed, but the labels asset lacks 1d/7d
    assert oos.day_missing_horizons(DAY, unlabelled, seven_days_on) == ["1d", "7d"]


def test_a_prediction_of_the_wrong_shape_is_one_clear_line():
    features, labels, _ = _day()
    with pytest.raises(ValueError, match=r"family mhnet predicted shape \(3, 4\), expected \(288, 4\)"):
        oos.evaluate_day(features, labels, {"mhnet": np.zeros((3, 4))}, FIT, cost=COST)


def _book(n: int, first: date = DAY, predictions=None, rules=None, carry_across: bool = True):
    """n days of oos_eval rows, each day opening with the previous day's close (or flat)."""
    out, carry = [], {}
    for i in range(n):
        features, labels, predicted = oos_day(first + timedelta(days=i), seed=i, cost=COST)
        rows = oos.evaluate_day(features, labels, predictions or predicted, FIT, cost=COST, carry=carry if carry_across else None, rules=rules)
        carry = oos.closing_positions(rows)
        out.append(rows)
    return out


def test_buy_and_hold_over_ten_days_pays_its_entry_once_on_every_horizon():
    days = _book(10)
    both = pl.concat(days)
    for h in HORIZON_NAMES:
        bh = both.filter((pl.col("family") == "buy_and_hold") & (pl.col("horizon") == h))
        assert (bh["trade_size"] > strategy.TRADE_EPS).sum() == 1 and bh["trade_size"].sum() == 1.0
    # the planted fault, each day flat (the old rule): ten entries
    flat = pl.concat(_book(10, carry_across=False)).filter((pl.col("family") == "buy_and_hold") & (pl.col("horizon") == "1h"))
    assert (flat["trade_size"] > 0).sum() == 10


def test_a_position_held_across_midnight_is_one_trade_and_the_final_exit_cost_is_stated():
    n = 288
    long = {"lgbm": np.full((n, 4), 0.05)}  # edge / vol >= 2.4 on every row: +1 throughout
    first, second = _book(2, predictions=long)
    for h in ("1h", "4h", "1d"):
        one = lambda rows: rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == h))  # noqa: E731
        assert (one(first)["trade_size"] > 0).sum() == 1 and one(second)["trade_size"].sum() == 0.0
        assert one(second)["position"].to_list() == [1.0] * n  # held over midnight, not re-entered
    s1, s2 = oos.summary(first), oos.summary(second)
    assert s1["lgbm/1h"]["trades"] == 1 and s2["lgbm/1h"]["trades"] == 0
    # the span's final position is marked (its PnL to there is booked) and its exit cost stated, not charged
    assert s2["lgbm/1h"]["final_position"] == 1.0 and s2["lgbm/1h"]["exit_cost"] == pytest.approx(COST / 2)
    lgbm = second.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "1h") & pl.col("evaluable"))
    assert s2["lgbm/1h"]["pnl"] == pytest.approx(lgbm["label"].sum())  # no exit charged


def test_the_carry_check_catches_a_day_that_ignores_the_previous_close():
    (features, labels, predictions), part2 = oos_day(DAY + timedelta(days=1), seed=1, cost=COST), DaySymbol(DAY + timedelta(days=1), "BTC-USDT")
    (day1,) = _book(1)
    carry = oos.closing_positions(day1)
    assert any(p != 0 for p in carry.values())  # the first day closes with open positions
    honest = oos.evaluate_day(features, labels, predictions, FIT, cost=COST, carry=carry)
    footer = {oos.CARRY_KEY: json.dumps(oos.carry_record(carry, str(DAY), "its published partition"))}
    assert oos_verify.carry_problems(part2, honest, footer, carry) == []
    # planted: the day evaluated flat although D-1 is published (what every day did before)
    flat = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    flat_footer = {oos.CARRY_KEY: json.dumps(oos.carry_record({}, None, "flat"))}
    (problem,) = oos_verify.carry_problems(part2, flat, flat_footer, carry)
    assert str(part2) in problem and "opens flat, but the previous day's book closed with positions" in problem
    # planted: a footer that claims the carry while the rows started flat
    problems = oos_verify.carry_problems(part2, flat, footer, carry)
    assert len(problems) == 1 and "first trade is not their change from the opening position" in problems[0]
    # no previous day: flat is right, a claimed carry is not
    assert oos_verify.carry_problems(part2, flat, flat_footer, None) == []
    assert "no previous day is published" in oos_verify.carry_problems(part2, honest, footer, None)[0]
    assert "no oos_carry footer" in oos_verify.carry_problems(part2, honest, {}, carry)[0]


def test_the_portfolio_position_is_what_servings_allocator_holds_for_the_same_inputs():
    from serving import signals
    from serving.allocator import BELOW_MIN_CHANGE, allocate

    weights = {"1h": 0.4, "4h": 0.3, "1d": 0.2, "7d": 0.1}
    sizing = portfolio.Sizing(1.0, risk_budget=0.8, max_symbol=0.3, max_gross=0.25, min_change=0.05)
    rules = portfolio.Rules("mean", weights, sizing)
    rng = np.random.default_rng(7)
    predicted = {f: rng.normal(0, 0.02, (288, 4)) for f in ("lgbm", "mhnet")}
    predicted["mhnet"][100:130] = np.nan  # a gap: those decisions hold, as serving's do
    rows = pl.concat(_book(3, predictions=predicted, rules=rules))
    mean = rows.filter(pl.col("family") == "mean")
    book = rows.filter(pl.col("family") == "portfolio").sort("t")
    assert set(book["horizon"].unique()) == {"1h"}
    # serving, instant by instant: held decisions per horizon, the symbol sized when one decides
    held, quantity, skipped, expected = {}, 0.0, 0, []
    decisions = pl.concat(
        [mean.filter((pl.col("horizon") == h) & strategy.on_grid(HORIZONS[h]) & pl.col("prediction").is_finite()) for h in weights]
    ).sort("t")
    by_t = decisions.partition_by("t", as_dict=True, maintain_order=True)
    for t in book["t"]:
        decided = by_t.get((t,))
        if decided is not None:
            held.update({("S", h): p for h, p in decided.select("horizon", "position").iter_rows()})
            targets = signals.targets(held, weights, ["S"])
            proposals, skips = allocate(targets, {"S": 1.0}, {"S": quantity}, sizing)
            quantity += sum(p.quantity for p in proposals)
            skipped += sum(s.code == BELOW_MIN_CHANGE for s in skips)
        expected.append(quantity)
    assert book["position"].to_list() == pytest.approx(expected, abs=1e-12)
    assert skipped > 0 and book["position"].abs().max() == pytest.approx(0.25)  # min change and the gross cap both bind
    # the mean family is lgbm and mhnet averaged
    assert mean.filter(pl.col("horizon") == "4h").sort("t")["prediction"][:3].to_list() == pytest.approx(
        ((predicted["lgbm"][:3, 1] + predicted["mhnet"][:3, 1]) / 2).tolist()
    )
