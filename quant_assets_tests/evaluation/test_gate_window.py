"""gate_verdict's pure half on planted oos_eval windows: one verdict per model series (the
portfolio included), only days complete at the verdict's own day as evidence, the chosen
series judged against every trial that could have passed, with its Sharpe's interval."""

from datetime import date, datetime, time, timedelta, timezone

import pytest

from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import grid_decisions, horizon_days, trial_count, verdicts, window_days
from quant_assets.labels.horizons import HORIZONS
from quant_assets_tests.evaluation.planted_oos_days import PORTFOLIO, PORTFOLIO_HORIZON, SERVABLE, known_at, planted_day, planted_flags

FIRST = date(2025, 10, 1)
GOOD = {("lgbm", "4h"): 0.5}
SETTLED = 8  # a day's 7d labels are all known at its midnight + 7d: D-8 is the newest evidence for D


def _window(days: int, partial_from: int | None = None, **kw) -> dict:
    out = {}
    for i in range(days):
        d = FIRST + timedelta(days=i)
        out[d] = planted_day(d, GOOD, 0.1, labelled=partial_from is None or i < partial_from, **kw)
    return out


@pytest.fixture(scope="module")
def forty():
    """40 days of every servable family (ablations too) on every horizon, and the portfolio."""
    return _window(40, families=SERVABLE, portfolio=0.1)


def _judge(rows, failing=(), day=None, missing=None, configurations=1):
    """The verdict for ``day`` (default: the first day on which every stored day is complete)."""
    days = sorted(rows)
    day = day or days[-1] + timedelta(days=SETTLED)
    features = {d: planted_flags(d, missing or {"text": 0.5}) for d in days}
    table = verdicts(rows, (days[0], day), list(failing), Thresholds(), features_by_day=features, configurations=configurations)
    return {(f, h): (p, r) for f, h, p, r in table.select("family", "horizon", "passed", "reasons").iter_rows()}, table


def _row(table, family="lgbm", horizon="4h"):
    return table.filter((table["family"] == family) & (table["horizon"] == horizon)).row(0, named=True)


def test_only_the_skilled_series_passes_and_every_gate_says_so(forty):
    judged, table = _judge(forty)
    assert len(judged) == 21, "five families on four horizons and the portfolio: baselines are not judged"
    assert [k for k, (ok, _) in judged.items() if ok] == [("lgbm", "4h")]
    reasons = judged[("lgbm", "4h")][1].splitlines()
    assert [r.split(":")[0] for r in reasons] == [
        f"PASS {g}" for g in ("evidence", "leakage", "data quality", "performance", "deflated Sharpe", "overfitting", "stability")
    ]
    row = _row(table)
    assert row["completed_days"] == 40 and row["coverage"] == 1.0 and row["evidence_days"] == sorted(forty)
    assert (row["bars_coverage"], row["derivatives_coverage"], row["text_coverage"]) == (1.0, 1.0, 0.5)
    # 21 series under one configuration, and the window re-judged as each of its 40 days completed
    assert row["n_trials"] == 21 + 39 and row["trials_counted"] == "21 series x 1 configuration(s) + 39 re-judging(s)"
    assert "over 60 trials (min 0.95): 21 series x 1 configuration(s) + 39 re-judging(s)" in judged[("lgbm", "4h")][1]
    assert row["sharpe_ci_low"] < row["daily_sharpe"] < row["sharpe_ci_high"]
    assert "90% interval" in reasons[3] and f"{row['sharpe_ci_low']:.2f}..{row['sharpe_ci_high']:.2f}" in reasons[3]


def test_a_seven_day_series_says_how_few_independent_days_it_rests_on(forty):
    _, table = _judge(forty)
    four, seven = _row(table), _row(table, "lgbm", "7d")
    assert four["ci_block_days"] == 4 and four["independent_days"] == 40  # cube root of 40 days, rounded up; a 4h book: 40 days
    assert seven["ci_block_days"] == 7 and seven["independent_days"] == round(40 / 7, 2), "a 7d book is resampled a week at a time"
    assert "on 5.71 independent days (bootstrap block 7d)" in seven["reasons"]


def test_the_verdict_for_d_counts_only_days_whose_labels_were_known_at_d_midnight(forty):
    day = FIRST + timedelta(days=40)  # rows stored for D-40..D-1
    _, table = _judge(forty, day=day)
    assert set(table["completed_days"]) == {40 - 7}, "D-7..D-1 still lacked 7d labels at D 00:00"
    assert max(_row(table)["evidence_days"]) == day - timedelta(days=SETTLED)


def test_the_same_verdict_comes_out_on_d_and_a_year_later(forty):
    """On D the last week's rows still lack their longer labels; a year later every label is
    in. The verdict for D is the same row, byte for byte."""
    day = FIRST + timedelta(days=40)
    midnight = datetime.combine(day, time(), tzinfo=timezone.utc)
    as_stored_on_d = {d: known_at(rows, midnight) for d, rows in forty.items()}
    assert any(rows["label"].null_count() for rows in as_stored_on_d.values()), "the planted window must be partial on D"
    _, on_d = _judge(as_stored_on_d, day=day)
    _, a_year_later = _judge(forty, day=day)
    assert on_d.equals(a_year_later)
    assert on_d.write_ipc(None).getvalue() == a_year_later.write_ipc(None).getvalue()


def test_derivatives_missing_too_often_fail_data_quality_by_name(forty):
    judged, table = _judge(forty, missing={"derivatives": 0.25})
    ok, reasons = judged[("lgbm", "4h")]
    assert not ok and [r.split(":")[0] for r in reasons.splitlines() if r.startswith("FAIL")] == ["FAIL data quality"]
    assert "derivatives 0.750 (min 0.9)" in reasons and set(table["derivatives_coverage"]) == {0.75}


def test_partial_days_are_no_evidence_and_too_few_fail():
    rows = _window(40, partial_from=20)  # the last 20 days still lack a label
    judged, table = _judge(rows)
    ok, reasons = judged[("lgbm", "4h")]
    assert not ok and "FAIL evidence: too little evidence: 20 completed days (min 30)" in reasons
    assert set(table["completed_days"]) == {20}


def test_a_window_of_only_partial_days_still_gives_failing_verdicts():
    judged, table = _judge(_window(3, partial_from=0))
    assert len(judged) == 2 * 4 and not table["passed"].any() and set(table["completed_days"]) == {0}


def test_a_failing_upstream_partition_fails_the_leakage_gate_by_name(forty):
    judged, table = _judge(forty, failing=["multi_horizon_model 2025-11-10|BTC-USDT: model_embargo failed (run 1234abcd)"])
    ok, reasons = judged[("lgbm", "4h")]
    assert not ok and "FAIL leakage: upstream blocking checks failed: multi_horizon_model 2025-11-10|BTC-USDT: model_embargo failed" in reasons
    assert [r for r in reasons.splitlines() if r.startswith("FAIL")] == [r for r in reasons.splitlines() if "leakage" in r]


def test_every_servable_family_ablations_and_the_portfolio_are_judged_and_counted(forty):
    judged, table = _judge(forty)
    assert len(judged) == 5 * 4 + 1 and (PORTFOLIO, PORTFOLIO_HORIZON) in judged
    portfolio = _row(table, PORTFOLIO, PORTFOLIO_HORIZON)
    assert portfolio["coverage"] == 1.0 and portfolio["completed_days"] == 40
    assert portfolio["ci_block_days"] == 7, "a portfolio holds positions up to the longest horizon: resampled by it"
    assert set(table["n_trials"]) == {21 + 39}, "every series evaluated for the symbol is a trial, the portfolio and ablations too"


def test_a_second_configuration_trained_in_the_window_raises_the_trials_and_lowers_the_dsr(forty):
    _, one = _judge(forty)
    _, two = _judge(forty, configurations=2)
    a, b = _row(one), _row(two)
    assert (a["n_trials"], b["n_trials"]) == (21 + 39, 42 + 39) and b["configurations"] == 2
    assert b["dsr_probability"] < a["dsr_probability"]
    assert b["trials_counted"] == "21 series x 2 configuration(s) + 39 re-judging(s)"


def test_trial_count_never_below_one():
    assert trial_count(0, 0, 0) == (1, "0 series x 1 configuration(s) + 0 re-judging(s)")


def test_window_days_and_grid_decisions():
    assert window_days(date(2025, 10, 5), 60, FIRST) == [FIRST + timedelta(days=i) for i in range(5)]
    assert window_days(date(2025, 12, 30), 3, FIRST) == [date(2025, 12, 28), date(2025, 12, 29), date(2025, 12, 30)]
    days = [FIRST + timedelta(days=i) for i in range(14)]
    assert grid_decisions(days, HORIZONS["1h"]) == 14 * 24 and grid_decisions(days, HORIZONS["7d"]) == 2  # two Thursdays


def test_the_portfolio_is_resampled_by_its_longest_holding_whatever_horizon_it_is_booked_on():
    # oos_eval books the portfolio on its finest weighted horizon (1h), but it holds 7d positions:
    # blocks of an hour would pretend its 7d decisions were independent days.
    assert horizon_days("1h", PORTFOLIO) == 7.0
    assert horizon_days("1h", "lgbm") == pytest.approx(1 / 24)
    assert horizon_days("7d", "lgbm") == 7.0
