"""Assemble the gate's evidence from a trailing window of completed evaluations.

Inputs are daily PnL frames (``day`` plus one column per series), as ``metrics.daily_pnl``
gives them per series: ``daily`` holds the chosen variant's reference strategy
(``strategy``) and each baseline; ``trials`` holds every variant actually evaluated
(families x horizons x ablations, the chosen one included), which is what the deflated
Sharpe and the PBO must count. Drawdown is measured on daily equity. The daily Sharpe comes
with its block-bootstrap interval (``bootstrap.sharpe_interval``, blocks of at least the
series' horizon). ``n_trials`` may count more trials than ``trials`` holds (configurations
trained but not evaluated, re-judgings: ``gate_window.trial_count``); the DSR deflates by it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from quant_assets.evaluation.bootstrap import sharpe_interval
from quant_assets.evaluation.deflated_sharpe import deflated_sharpe, sharpe
from quant_assets.evaluation.gate import Evidence, Thresholds
from quant_assets.evaluation.metrics import annualised_sharpe, max_drawdown
from quant_assets.evaluation.pbo import DEFAULT_BLOCKS, probability_of_backtest_overfitting
from quant_assets.evaluation.strategy import STRATEGY
from quant_assets.evaluation.walk_forward import beats_baselines, window_sharpes


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
    strategy = daily[STRATEGY].fill_null(0.0).to_numpy()
    matrix = trials.drop("day").fill_null(0.0).to_numpy()
    enough = daily.height >= 2 * th.walk_forward_windows
    beaten = beats_baselines(window_sharpes(daily, k=th.walk_forward_windows)) if enough else 0
    n_trials = matrix.shape[1] if n_trials is None else n_trials
    dsr = deflated_sharpe(strategy, sharpe(matrix), n_trials) if daily.height > 2 else None
    interval = sharpe_interval(strategy, horizon_days)
    blocks = pbo_blocks(daily.height)
    pbo = probability_of_backtest_overfitting(matrix, blocks).probability if blocks >= 2 and matrix.shape[1] >= 2 else math.nan
    return Evidence(
        completed_days=daily.height,
        trades=int(trades),
        upstream_checks_passed=not failing_partitions,
        failing_partitions=tuple(failing_partitions),
        coverage=float(coverage),
        daily_sharpe=annualised_sharpe(strategy),
        windows_beaten=beaten,
        n_windows=th.walk_forward_windows,
        dsr_probability=dsr.probability if dsr else math.nan,
        n_trials=n_trials,
        pbo=pbo,
        max_drawdown=max_drawdown(strategy),
        turnover=float(turnover),
        cv_sharpe=cv_sharpe,
        sharpe_ci_low=interval.low,
        sharpe_ci_high=interval.high,
        ci_block_days=interval.block_days,
        independent_days=interval.independent_days,
        trials_counted=trials_counted,
        **{f"{source}_coverage": float(value) for source, value in (source_coverage or {}).items()},
    )
