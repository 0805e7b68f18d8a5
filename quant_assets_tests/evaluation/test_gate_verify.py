"""gate_verdict's blocking checks, pure half: a verdict computed late on the wall clock (it
counted days whose 7d labels came after D) is caught by re-deriving every evidence day from
the labels' own label_available_at; a verdict changed after it was judged does not reproduce."""

from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.evaluation import gate_verify
from quant_assets.evaluation.completeness import labels_known_at
from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import verdicts
from quant_assets.labels.horizons import HORIZONS
from quant_assets.partitions import DaySymbol
from quant_assets_tests.evaluation.planted_oos_days import planted_day, planted_labels

FIRST = date(2025, 10, 1)
D = FIRST + timedelta(days=40)
PART = DaySymbol(D, "BTC-USDT")


@pytest.fixture(scope="module")
def window():
    days = [FIRST + timedelta(days=i) for i in range(40)]  # D-40..D-1 stored, every label in by now
    rows = {d: planted_day(d, {("lgbm", "4h"): 0.5}, 0.1) for d in days}
    labels = {d: labels_known_at(planted_labels(d), HORIZONS) for d in days}
    return rows, labels


def test_an_honest_verdict_passes_both_checks(window):
    rows, labels = window
    table = verdicts(rows, (FIRST, D), [], Thresholds())
    assert gate_verify.evidence_problems(PART, table, labels) == []
    assert gate_verify.reproduction_problems(PART, table, verdicts(rows, (FIRST, D), [], Thresholds())) == []


def test_a_verdict_computed_late_that_counts_day_d_minus_1_is_caught(window):
    rows, labels = window
    # The wall-clock rule, run on D+9: every stored day was complete by then, D-1 included.
    late = verdicts(rows, (FIRST, D + timedelta(days=9)), [], Thresholds()).with_columns(window_end=pl.lit(D))
    assert D - timedelta(days=1) in late["evidence_days"][0]
    problems = gate_verify.evidence_problems(PART, late, labels)
    assert len(problems) == 7 and problems[-1] == (
        f"{PART}: evidence day {D - timedelta(days=1)} was complete only at {D + timedelta(days=7)} 00:00, after the verdict's {D} 00:00"
    )
    assert gate_verify.reproduction_problems(PART, late, verdicts(rows, (FIRST, D), [], Thresholds()))


def test_a_missing_labels_partition_and_a_miscount_are_named(window):
    rows, labels = window
    table = verdicts(rows, (FIRST, D), [], Thresholds())
    gone = {d: at for d, at in labels.items() if d != FIRST}
    assert gate_verify.evidence_problems(PART, table, gone) == [
        f"{PART}: evidence day {FIRST} has no complete labels partition: not known at {D} 00:00"
    ]
    padded = table.with_columns(completed_days=pl.col("completed_days") + 1)
    assert f"{PART}: lgbm/1h counts 34 completed days but names 33" in gate_verify.evidence_problems(PART, padded, labels)
    changed = gate_verify.reproduction_problems(PART, padded, table)
    assert changed[0] == f"{PART}: lgbm/1h completed_days stored 34, recomputed 33"
