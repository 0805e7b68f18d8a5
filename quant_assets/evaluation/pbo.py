"""Probability of backtest overfitting by combinatorially symmetric cross-validation
(Bailey, Borwein, Lopez de Prado and Zhu, 2015).

Given a T x N matrix of per-period returns of N variants: split the T rows into S even,
contiguous blocks; for each of the C(S, S/2) ways to call half the blocks in-sample (the
rest out-of-sample), pick the variant with the best in-sample Sharpe, take its relative
rank out-of-sample w = rank / (N + 1) (1 worst, N best, ties averaged) and its logit
ln(w / (1 - w)). PBO is the share of logits <= 0: how often the in-sample winner is no
better than the median out-of-sample. Skill gives PBO near 0, pure luck near 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import stats

DEFAULT_BLOCKS = 16


@dataclass(frozen=True)
class PBO:
    probability: float
    logits: np.ndarray      # one per combination
    n_blocks: int
    n_variants: int


def _block_sharpes(mask: np.ndarray, count: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Sharpe per (combination, variant) of the rows in the combination's blocks, from
    per-block sums: every combination without touching the rows again."""
    n = (mask @ count)[:, None]
    mean = (mask @ s1) / n
    var = np.maximum((mask @ s2) - n * mean**2, 0.0) / (n - 1)
    sd = np.sqrt(var)
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)


def probability_of_backtest_overfitting(returns: np.ndarray, n_blocks: int = DEFAULT_BLOCKS) -> PBO:
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError(f"PBO: need a T x N matrix with N >= 2 variants (got shape {m.shape})")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"PBO: blocks S={n_blocks} must be even and >= 2")
    if m.shape[0] < 2 * n_blocks:
        raise ValueError(f"PBO: {m.shape[0]} periods is too few for {n_blocks} blocks of at least 2")
    if not np.isfinite(m).all():
        raise ValueError(f"PBO: {int((~np.isfinite(m)).sum())} non-finite return(s); fill or drop them first")
    blocks = np.array_split(np.arange(m.shape[0]), n_blocks)
    count = np.array([len(b) for b in blocks], dtype=float)
    s1 = np.stack([m[b].sum(axis=0) for b in blocks])
    s2 = np.stack([(m[b] ** 2).sum(axis=0) for b in blocks])
    chosen = list(combinations(range(n_blocks), n_blocks // 2))
    in_sample = np.zeros((len(chosen), n_blocks))
    for row, combo in enumerate(chosen):
        in_sample[row, list(combo)] = 1.0
    sr_in = _block_sharpes(in_sample, count, s1, s2)
    sr_out = _block_sharpes(1.0 - in_sample, count, s1, s2)
    best = np.argmax(sr_in, axis=1)
    rank = stats.rankdata(sr_out, axis=1)[np.arange(len(chosen)), best]
    w = rank / (m.shape[1] + 1)
    logits = np.log(w / (1 - w))
    return PBO(float(np.mean(logits <= 0)), logits, n_blocks, m.shape[1])
