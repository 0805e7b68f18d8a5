"""gate_verdict's pure half on planted oos_eval windows: one verdict per model series, only
complete days as evidence, the chosen series judged against every variant evaluated."""

from datetime import date, datetime, timedelta, timezone

import pytest

from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import grid_decisions, verdicts, window_days
from quant_assets.labels.horizons import HORIZONS
from quant_assets_tests.evaluation.gatekit import planted_day, planted_flags

FIRST = date(2025, 10, 1)
LATER = datetime(2026, 1, 1, tzinfo=timezone.utc)
GOOD = {("lgbm", "4h"): 0.5}


def _window(days: int, partial_from: int | None = None) -> dict:
    out = {}
    for i in range(days):
        d = FIRST + timedelta(days=i)
        out[d] = planted_day(d, GOOD, 0.1, labelled=partial_from is None or i < partial_from)
    return out


@pytest.fixture(scope="module")
def forty():
    return _window(40)


def _judge(rows, failing=(), as_of=LATER, missing=None):
    days = sorted(rows)
    features = {d: planted_flags(d, missing or {"text": 0.5}) for d in days}
    table = verdicts(rows, (days[0], days[-1]), list(failing), Thresholds(), as_of, features_by_day=features)
    return {(f, h): (p, r) for f, h, p, r in table.select("family", "horizon", "passed", "reasons").iter_rows()}, table


def test_only_the_skilled_series_passes_and_every_gate_says_so(forty):
    judged, table = _judge(forty)
    assert len(judged) == 8, "lgbm and mhnet on four horizons: eight model series, baselines are not judged"
    assert [k for k, (ok, _) in judged.items() if ok] == [("lgbm", "4h")]
    reasons = judged[("lgbm", "4h")][1].splitlines()
    assert [r.split(":")[0] for r in reasons] == [f"PASS {g}" for g in ("evidence", "leakage", "data quality", "performance", "deflated Sharpe", "overfitting", "stability")]
    row = table.filter((table["family"] == "lgbm") & (table["horizon"] == "4h")).row(0, named=True)
    assert row["completed_days"] == 40 and row["n_trials"] == 8 and row["coverage"] == 1.0
    assert (row["bars_coverage"], row["derivatives_coverage"], row["text_coverage"]) == (1.0, 1.0, 0.5)
    assert "over 8 trials" in judged[("lgbm", "4h")][1]


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


def test_days_whose_longest_horizon_has_not_passed_are_no_evidence(forty):
    last = max(forty)
    as_of = datetime.combine(last, datetime.min.time(), tzinfo=timezone.utc) + timedelta(days=1) + HORIZONS["7d"] - timedelta(seconds=1)
    judged, table = _judge(forty, as_of=as_of)
    assert set(table["completed_days"]) == {39}, "the last day's 7d labels are not due yet"


def test_a_window_of_only_partial_days_still_gives_failing_verdicts():
    judged, table = _judge(_window(3, partial_from=0))
    assert len(judged) == 8 and not table["passed"].any() and set(table["completed_days"]) == {0}


def test_a_failing_upstream_partition_fails_the_leakage_gate_by_name(forty):
    judged, table = _judge(forty, failing=["multi_horizon_model 2025-11-10|BTC-USDT: model_embargo failed (run 1234abcd)"])
    ok, reasons = judged[("lgbm", "4h")]
    assert not ok and "FAIL leakage: upstream blocking checks failed: multi_horizon_model 2025-11-10|BTC-USDT: model_embargo failed" in reasons
    assert [r for r in reasons.splitlines() if r.startswith("FAIL")] == [r for r in reasons.splitlines() if "leakage" in r]


def test_window_days_and_grid_decisions():
    assert window_days(date(2025, 10, 5), 60, FIRST) == [FIRST + timedelta(days=i) for i in range(5)]
    assert window_days(date(2025, 12, 30), 3, FIRST) == [date(2025, 12, 28), date(2025, 12, 29), date(2025, 12, 30)]
    days = [FIRST + timedelta(days=i) for i in range(14)]
    assert grid_decisions(days, HORIZONS["1h"]) == 14 * 24 and grid_decisions(days, HORIZONS["7d"]) == 2  # two Thursdays
