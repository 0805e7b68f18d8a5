"""Deflated Sharpe: the paper's worked example, the expected maximum against simulation,
and calibration on pure noise (the best of many lucky trials is not passed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from quant_assets.evaluation import deflated_sharpe as ds


def test_bailey_lopez_de_prado_2014_worked_example():
    # Annualised SR 2.5 over 5 years of daily returns (T = 1250), 100 trials whose
    # annualised Sharpes vary by 1/2, skew -3, kurtosis 10: SR0 = 1.7894 annualised and
    # DSR = 0.9004 in the paper (section 5).
    per_year = 250
    sr0 = ds.expected_max_sharpe(100, 0.5 / per_year)
    assert sr0 * math.sqrt(per_year) == pytest.approx(1.7894, abs=1e-4)
    dsr = ds.probabilistic_sharpe(2.5 / math.sqrt(per_year), sr0, 1250, skew=-3.0, kurtosis=10.0)
    assert dsr == pytest.approx(0.9004, abs=1e-4)


def test_psr_is_one_half_at_the_benchmark_and_the_normal_closed_form_elsewhere():
    assert ds.probabilistic_sharpe(0.1, 0.1, 500, 0.0, 3.0) == pytest.approx(0.5)
    z = 0.1 * math.sqrt(499) / math.sqrt(1 + 0.5 * 0.01)
    assert ds.probabilistic_sharpe(0.1, 0.0, 500, 0.0, 3.0) == pytest.approx(stats.norm.cdf(z))
    # Negative skew and fat tails make the same Sharpe less convincing.
    assert ds.probabilistic_sharpe(0.1, 0.0, 500, -2.0, 9.0) < stats.norm.cdf(z)
    assert ds.expected_max_sharpe(1, 0.3) == 0.0


def test_expected_max_sharpe_matches_the_simulated_maximum_of_n_normals():
    rng = np.random.default_rng(7)
    for n in (10, 100, 1000):
        simulated = rng.normal(0.0, 0.2, size=(4000, n)).max(axis=1).mean()
        # The Euler-Mascheroni approximation is a few per cent high at small N.
        assert ds.expected_max_sharpe(n, 0.2**2) == pytest.approx(simulated, rel=0.04 if n == 10 else 0.015)


def test_on_pure_noise_the_best_of_many_trials_rarely_passes_but_naive_psr_often_does():
    rng = np.random.default_rng(11)
    seeds, days, trials = 200, 250, 50
    deflated, naive = [], []
    for _ in range(seeds):
        m = rng.normal(0.0, 0.01, size=(days, trials))
        best = ds.deflated_sharpe_of_best(m)
        deflated.append(best.probability)
        r = m[:, np.argmax(ds.sharpe(m))]
        naive.append(ds.probabilistic_sharpe(ds.sharpe(r), 0.0, days, float(stats.skew(r)), float(stats.kurtosis(r, fisher=False))))
    assert np.mean(np.array(deflated) >= 0.95) <= 0.10
    # The same best trials, judged as if they were the only one tried, look significant.
    assert np.mean(np.array(naive) >= 0.95) >= 0.5


def test_a_variant_with_real_skill_passes_among_noise():
    rng = np.random.default_rng(3)
    m = rng.normal(0.0, 0.01, size=(365, 20))
    m[:, 4] += 0.003  # daily Sharpe 0.3, about 5.7 annualised
    best = ds.deflated_sharpe_of_best(m)
    assert best.n_trials == 20 and best.n_obs == 365
    assert best.sharpe > best.benchmark and best.probability > 0.99


def test_trials_are_counted_over_what_was_actually_evaluated():
    variants = [(f, h, a) for f in ("lgbm", "net") for h in ("1h", "4h", "1d", "7d") for a in ("full", "no_text")]
    assert ds.count_trials(variants + variants[:3]) == 16
    with pytest.raises(ValueError, match="trial Sharpes"):
        ds.deflated_sharpe(np.zeros(10), np.array([0.1, np.nan]))


def test_trials_not_at_hand_still_deflate_and_cannot_be_fewer_than_those_that_are():
    rng = np.random.default_rng(5)
    m = rng.normal(0.0, 0.01, size=(120, 6))
    m[:, 0] += 0.002
    sharpes = ds.sharpe(m)
    at_hand = ds.deflated_sharpe(m[:, 0], sharpes)
    counted = ds.deflated_sharpe(m[:, 0], sharpes, n_trials=60)
    assert (at_hand.n_trials, counted.n_trials) == (6, 60)
    assert counted.benchmark > at_hand.benchmark and counted.probability < at_hand.probability
    with pytest.raises(ValueError, match="fewer than the 6"):
        ds.deflated_sharpe(m[:, 0], sharpes, n_trials=5)
