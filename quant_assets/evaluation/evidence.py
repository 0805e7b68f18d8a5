"""Assemble the gate's evidence from a trailing window of completed evaluations.

Inputs are daily PnL frames (``day`` plus one column per series), as ``metrics.daily_pnl``
gives them per series: ``daily`` holds the chosen variant's reference strategy
(``strategy``) and each baseline; ``trials`` holds every variant actually evaluated
(families x horizons x ablations, the chosen one included), which is what the deflated
Sharpe and the PBO must count. Drawdown is measured on daily equity. The daily Sharpe comes
with its block-bootstrap interval (``bootstrap.sharpe_interval``, blocks of at least the
series' horizon). ``n_trials`` may count more trials than ``trials`` holds (configurations
trained but not evaluated, re-judgings: ``gate_window.trial_count``); the DSR deflates by it.
``collect_evidences`` judges every series of a window at once, on numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from quant_assets.evaluation.bootstrap import sharpe_intervals
from quant_assets.evaluation.deflated_sharpe import deflated_sharpes, sharpe
from quant_assets.evaluation.gate import Evidence, Thresholds
from quant_assets.evaluation.metrics import annualised_sharpe, max_drawdown
from quant_assets.evaluation.pbo import DEFAULT_BLOCKS, probability_of_backtest_overfitting
from quant_assets.evaluation.strategy import BASELINES, STRATEGY
from quant_assets.evaluation.walk_forward import sub_window_sharpes, windows_beaten


def pbo_blocks(days: int) -> int:
    """16 blocks, or the most (even, >= 2) that still leaves two days a block."""
    return min(DEFAULT_BLOCKS, (days // 2) // 2 * 2)


def collect_evidence(
    daily: pl.DataFrame,
    trials: pl.DataFrame,
    *,
    trades: int,
    turnover: float,
    coverage: float,
    failing_partitions: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    cv_sharpe: float = math.nan,
    source_coverage: Mapping[str, float] | None = None,
    horizon_days: float = 1.0,
    n_trials: int | None = None,
    trials_counted: str = "",
) -> Evidence:
    th = thresholds or Thresholds()
    daily = daily.sort("day")
    trials = trials.sort("day")
    if daily["day"].to_list() != trials["day"].to_list():
        raise ValueError("evidence: the daily and trials frames must cover the same days")
    # The baselines are needed where there are sub-windows to judge against them.
    _require(daily, (STRATEGY, *BASELINES) if daily.height >= 2 * th.walk_forward_windows else (STRATEGY,))
    column = lambda name: daily[name].fill_null(0.0).to_numpy() if name in daily.columns else np.zeros(daily.height)  # noqa: E731
    (evidence,) = collect_evidences(
        column(STRATEGY)[None, :], np.stack([column(b) for b in BASELINES])[None, :, :], trials.drop("day").fill_null(0.0).to_numpy(),
        trades=[trades], turnovers=[turnover], coverages=[coverage], cv_sharpes=[cv_sharpe], horizon_days=[horizon_days],
        failing_partitions=failing_partitions, thresholds=th, source_coverage=source_coverage, n_trials=n_trials,
        trials_counted=trials_counted,
    )  # fmt: skip
    return evidence


def collect_evidences(
    strategies: np.ndarray,
    baselines: np.ndarray,
    trials: np.ndarray,
    *,
    trades: Sequence[int],
    turnovers: Sequence[float],
    coverages: Sequence[float],
    cv_sharpes: Sequence[float],
    horizon_days: Sequence[float],
    failing_partitions: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    source_coverage: Mapping[str, float] | None = None,
    n_trials: int | None = None,
    trials_counted: str = "",
) -> list[Evidence]:
    """``collect_evidence`` of every series of a window at once: ``strategies`` [series, days],
    each one's ``baselines`` [series, BASELINES, days] (its horizon's), the window's ``trials``
    [days, trial] (the same for all: their Sharpes, the DSR's benchmark and the PBO are computed
    once), the rest one per series. Each series' evidence is the one it gets alone, bit for bit."""
    th = thresholds or Thresholds()
    count, days = strategies.shape
    k = th.walk_forward_windows
    if days >= 2 * k:
        sharpes = sub_window_sharpes(np.concatenate([strategies, baselines.reshape(-1, days)]), k)
        beaten = windows_beaten(sharpes[:count], sharpes[count:].reshape(count, len(BASELINES), k)).tolist()
    else:
        beaten = [0] * count
    n_trials = trials.shape[1] if n_trials is None else n_trials
    dsrs = deflated_sharpes(strategies, sharpe(trials), n_trials) if days > 2 else [None] * count
    intervals = sharpe_intervals(strategies, horizon_days)
    blocks = pbo_blocks(days)
    pbo = probability_of_backtest_overfitting(trials, blocks).probability if blocks >= 2 and trials.shape[1] >= 2 else math.nan
    sources = {f"{source}_coverage": float(value) for source, value in (source_coverage or {}).items()}
    return [
        Evidence(
            completed_days=days,
            trades=int(trades[i]),
            upstream_checks_passed=not failing_partitions,
            failing_partitions=tuple(failing_partitions),
            coverage=float(coverages[i]),
            daily_sharpe=annualised_sharpe(strategies[i]),
            windows_beaten=int(beaten[i]),
            n_windows=k,
            dsr_probability=dsrs[i].probability if dsrs[i] else math.nan,
            n_trials=n_trials,
            pbo=pbo,
            max_drawdown=max_drawdown(strategies[i]),
            turnover=float(turnovers[i]),
            cv_sharpe=cv_sharpes[i],
            sharpe_ci_low=intervals[i].low,
            sharpe_ci_high=intervals[i].high,
            ci_block_days=intervals[i].block_days,
            independent_days=intervals[i].independent_days,
            trials_counted=trials_counted,
            **sources,
        )
        for i in range(count)
    ]


def _require(daily: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in daily.columns]
    if missing:
        raise ValueError(f"walk-forward: column(s) {', '.join(missing)} missing from the daily PnL frame")
