"""Probabilistic and deflated Sharpe ratios (Bailey and Lopez de Prado, 2012 and 2014).

All Sharpe ratios here are per period (daily, not annualised), as the formulas require.

- PSR(SR*) = Phi( (SR - SR*) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2) ),
  with T observations, g3 their skewness and g4 their (non-excess) kurtosis, 3 for a
  normal: the probability that the true Sharpe exceeds SR*, given fat tails.
- Expected maximum Sharpe of N unskilled trials whose Sharpes vary with variance V:
  SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e))),
  gamma the Euler-Mascheroni constant.
- DSR = PSR(SR0): the chosen variant's Sharpe must beat the best that luck alone would
  have shown after N trials. N counts every variant that could have produced a pass
  (series evaluated, other configurations trained, re-judgings: ``gate_window.trial_count``),
  never only the ones reported; V comes from the trials whose returns are at hand.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class DeflatedSharpe:
    sharpe: float  # per-period Sharpe of the chosen variant
    benchmark: float  # SR0, the expected maximum Sharpe under the trials
    probability: float  # DSR = PSR(SR0)
    n_trials: int
    n_obs: int
    skew: float
    kurtosis: float  # non-excess: 3 for a normal


def sharpe(returns: np.ndarray) -> float | np.ndarray:
    """Per-period Sharpe ratio, mean / std (ddof 1), of a series or of each column of a
    T x N matrix; 0 for a series that never moves."""
    r = np.asarray(returns, dtype=float)
    mean, sd = r.mean(axis=0), r.std(axis=0, ddof=1)
    out = np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)
    return float(out) if r.ndim == 1 else out


def probabilistic_sharpe(sr: float, sr_benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    if n_obs < 2:
        raise ValueError(f"probabilistic Sharpe: {n_obs} observation(s); needs at least 2")
    spread = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    # Extreme negative skew with a large Sharpe can make the estimator variance vanish or
    # go negative; that is no evidence at all.
    if spread <= 0:
        return math.nan
    return float(stats.norm.cdf((sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread)))


def expected_max_sharpe(n_trials: int, trial_variance: float) -> float:
    if n_trials < 1:
        raise ValueError(f"expected max Sharpe: {n_trials} trial(s); needs at least 1")
    if n_trials == 1:
        return 0.0  # one trial has nothing to be the maximum of
    gamma = np.euler_gamma
    z = (1 - gamma) * stats.norm.ppf(1 - 1 / n_trials) + gamma * stats.norm.ppf(1 - 1 / (n_trials * math.e))
    return float(math.sqrt(max(trial_variance, 0.0)) * z)


def deflated_sharpe(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int | None = None) -> DeflatedSharpe:
    """DSR of ``returns`` (the chosen variant's per-period PnL) given the per-period
    Sharpes of the trials at hand, the chosen one included; ``n_trials`` (default: as many
    as those) counts also the trials whose returns are not at hand, and is at least as many."""
    return deflated_sharpes(np.asarray(returns, dtype=float).reshape(1, -1), trial_sharpes, n_trials)[0]


def deflated_sharpes(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int | None = None) -> list[DeflatedSharpe]:
    """``deflated_sharpe`` of each row of ``returns`` ([variants, periods]) against the same
    trials: their benchmark computed once, every row's moments in one numpy pass, each row's
    result the one it gets alone, bit for bit."""
    r = np.asarray(returns, dtype=float)
    trials = np.asarray(trial_sharpes, dtype=float)
    if trials.size < 1 or not np.isfinite(trials).all():
        raise ValueError(f"deflated Sharpe: trial Sharpes must be finite and non-empty (got {trials.size})")
    n = trials.size if n_trials is None else int(n_trials)
    if n < trials.size:
        raise ValueError(f"deflated Sharpe: n_trials={n} is fewer than the {trials.size} trial Sharpes given")
    variance = float(trials.var(ddof=1)) if trials.size > 1 else 0.0
    sr0 = expected_max_sharpe(n, variance)
    moving = r.std(axis=1) > 0
    skews, kurts = np.zeros(len(r)), np.full(len(r), 3.0)
    if moving.any():
        skews[moving], kurts[moving] = _skew_and_kurtosis(r[moving])
    sharpes = sharpe(np.asfortranarray(r.T)) if r.shape[1] else np.zeros(len(r))
    out = []
    for sr, skew, kurt in zip(sharpes.tolist(), skews.tolist(), kurts.tolist()):
        out.append(DeflatedSharpe(sr, sr0, probabilistic_sharpe(sr, sr0, r.shape[1], skew, kurt), n, int(r.shape[1]), skew, kurt))
    return out


def _skew_and_kurtosis(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.stats.skew`` and ``scipy.stats.kurtosis(fisher=False)`` (biased) of each row, as
    they are of each row alone: scipy takes a lone series' powers of its moments on scalars,
    and numpy's vectorised power differs from the scalar one in the last bit."""
    m2, m3, m4 = (stats.moment(rows, order, axis=1) for order in (2, 3, 4))
    with np.errstate(all="ignore"):
        zero = (m2 <= (np.finfo(m2.dtype).eps * rows.mean(axis=1)) ** 2).tolist()
    m2, m3, m4 = m2.tolist(), m3.tolist(), m4.tolist()
    skew = [math.nan if z else c / v**1.5 for z, c, v in zip(zero, m3, m2)]
    kurtosis = [math.nan if z else q / v**2.0 for z, q, v in zip(zero, m4, m2)]
    return np.array(skew), np.array(kurtosis)


def deflated_sharpe_of_best(trial_returns: np.ndarray) -> DeflatedSharpe:
    """DSR of the best column of a T x N matrix of per-period returns of N trials."""
    m = np.asarray(trial_returns, dtype=float)
    sharpes = sharpe(m)
    return deflated_sharpe(m[:, int(np.argmax(sharpes))], sharpes)


def count_trials(variants: Iterable[Hashable]) -> int:
    """Distinct variants evaluated, e.g. (family, horizon, ablation) tuples."""
    return len(set(variants))
