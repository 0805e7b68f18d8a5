"""The gate verdict: every gate flips it when its figure crosses the threshold, a leaky
or thin record never passes, and settings come from QUANT_ASSETS_GATE_* with one clear
line per bad value."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from quant_assets.evaluation.gate import Evidence, Thresholds, env_var, verdict

GOOD = Evidence(
    completed_days=60,
    trades=400,
    upstream_checks_passed=True,
    failing_partitions=(),
    coverage=0.99,
    daily_sharpe=2.4,
    windows_beaten=3,
    n_windows=4,
    dsr_probability=0.98,
    n_trials=16,
    pbo=0.2,
    max_drawdown=0.08,
    turnover=3.0,
    bars_coverage=1.0,
    derivatives_coverage=0.97,
    text_coverage=0.4,
)


def gate_of(line: str) -> str:
    return line.split(":")[0]


def test_a_good_record_passes_with_a_readable_line_per_gate():
    v = verdict(GOOD)
    assert v.passed and v.failures == []
    assert [gate_of(r) for r in v.reasons] == [
        "PASS evidence",
        "PASS leakage",
        "PASS data quality",
        "PASS performance",
        "PASS deflated Sharpe",
        "PASS overfitting",
        "PASS stability",
    ]
    assert "daily Sharpe 2.40 (floor 1.5)" in v.reasons[3]
    assert v.figures["pbo"] == 0.2 and v.figures["thresholds"]["max_pbo"] == 0.5


def test_great_metrics_with_a_failed_upstream_check_are_refused_by_the_leakage_gate():
    leaky = replace(
        GOOD,
        daily_sharpe=9.0,
        dsr_probability=1.0,
        pbo=0.0,
        upstream_checks_passed=False,
        failing_partitions=("feature_matrix 2025-10-14|BTC-USDT asof",),
    )
    v = verdict(leaky)
    assert not v.passed
    assert v.failures == ["FAIL leakage: upstream blocking checks failed: feature_matrix 2025-10-14|BTC-USDT asof"]
    # A failing partition is a leak even when the caller's flag says all passed.
    assert not verdict(replace(GOOD, failing_partitions=("labels 2025-10-02|ETH-USDT",))).passed


def test_too_few_days_is_a_fail_for_lack_of_evidence():
    v = verdict(replace(GOOD, completed_days=12))
    assert not v.passed
    assert v.failures == ["FAIL evidence: too little evidence: 12 completed days (min 30), 400 trades (min 30)"]


# (field, value just past the threshold, value just inside it, the gate that flips)
CROSSINGS = [
    ("completed_days", 29, 30, "evidence"),
    ("trades", 29, 30, "evidence"),
    ("coverage", 0.949, 0.95, "data quality"),
    ("bars_coverage", 0.949, 0.95, "data quality"),
    ("derivatives_coverage", 0.899, 0.9, "data quality"),
    ("windows_beaten", 1, 2, "performance"),
    ("daily_sharpe", 1.49, 1.5, "performance"),
    ("dsr_probability", 0.949, 0.95, "deflated Sharpe"),
    ("pbo", 0.501, 0.5, "overfitting"),
    ("max_drawdown", 0.201, 0.2, "stability"),
    ("turnover", 10.01, 10.0, "stability"),
]


@pytest.mark.parametrize(("name", "outside", "inside", "gate"), CROSSINGS, ids=[c[0] for c in CROSSINGS])
def test_each_gate_flips_the_verdict_at_its_threshold(name, outside, inside, gate):
    assert verdict(replace(GOOD, **{name: inside})).passed
    v = verdict(replace(GOOD, **{name: outside}))
    assert not v.passed
    assert [gate_of(r) for r in v.failures] == [f"FAIL {gate}"]


def test_a_figure_that_could_not_be_computed_fails_its_gate():
    v = verdict(replace(GOOD, pbo=math.nan, dsr_probability=math.nan))
    assert [gate_of(r) for r in v.failures] == ["FAIL deflated Sharpe", "FAIL overfitting"]


def test_thresholds_are_settings_and_move_the_verdict():
    strict = Thresholds.from_env({env_var("sharpe_floor"): "3.0", env_var("min_days"): "45"})
    assert strict.sharpe_floor == 3.0 and strict.min_days == 45 and strict.max_pbo == 0.5
    assert not verdict(GOOD, strict).passed
    assert Thresholds.from_env({}) == Thresholds()
    assert (Thresholds().sharpe_floor, Thresholds().min_dsr, Thresholds().max_pbo, Thresholds().window_days) == (1.5, 0.95, 0.5, 60)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QUANT_ASSETS_GATE_SHARPE_FLOOR": "high"}, "QUANT_ASSETS_GATE_SHARPE_FLOOR='high': expected a number"),
        ({"QUANT_ASSETS_GATE_MIN_DAYS": "30.5"}, "QUANT_ASSETS_GATE_MIN_DAYS='30.5': expected a whole number"),
        ({"QUANT_ASSETS_GATE_MAX_PBO": "1.5"}, r"QUANT_ASSETS_GATE_MAX_PBO='1.5': must be a fraction in \[0, 1\]"),
        ({"QUANT_ASSETS_GATE_MIN_DSR": "nan"}, "QUANT_ASSETS_GATE_MIN_DSR='nan': must be finite"),
        (
            {"QUANT_ASSETS_GATE_MIN_WINDOWS_BEATEN": "5"},
            r"min_windows_beaten=5 \(QUANT_ASSETS_GATE_MIN_WINDOWS_BEATEN\): cannot exceed walk_forward_windows=4",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(env, message):
    with pytest.raises(ValueError, match=message) as err:
        Thresholds.from_env(env)
    assert "\n" not in str(err.value)


def test_the_process_environment_is_read_by_default(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_GATE_MAX_TURNOVER", "2.5")
    assert Thresholds.from_env().max_turnover == 2.5
    assert not verdict(GOOD, Thresholds.from_env()).passed


def test_a_source_that_was_not_measured_fails_only_where_a_minimum_is_set():
    """Feature rows not read leave a source's coverage NaN: bars and derivatives, which the
    gate requires, then fail data quality by name; text, required by nobody by default, does
    not, until a deployment sets a minimum for it."""
    unread = verdict(replace(GOOD, bars_coverage=math.nan))
    assert [gate_of(r) for r in unread.failures] == ["FAIL data quality"] and "bars nan (min 0.95)" in unread.failures[0]
    no_text = replace(GOOD, text_coverage=math.nan)
    assert verdict(no_text).passed
    assert not verdict(no_text, Thresholds(min_text_coverage=0.5)).passed
    assert not verdict(replace(GOOD, text_coverage=0.4), Thresholds(min_text_coverage=0.5)).passed
