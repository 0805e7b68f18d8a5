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
from functools import lru_cache
from itertools import combinations

import numpy as np
from threadpoolctl import threadpool_limits

DEFAULT_BLOCKS = 16


@dataclass(frozen=True)
class PBO:
    probability: float
    logits: np.ndarray  # one per combination
    n_blocks: int
    n_variants: int


def _block_sharpes(mask: np.ndarray, count: np.ndarray, s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """Sharpe per (combination, variant) of the rows in the combination's blocks, from
    per-block sums: every combination without touching the rows again. In place: the
    [combinations, variants] arrays are the PBO's whole cost."""
    n = (mask @ count)[:, None]
    mean = mask @ s1
    mean /= n
    spread = np.square(mean)
    spread *= n
    var = mask @ s2
    var -= spread  # sum of squares - n * mean^2
    np.maximum(var, 0.0, out=var)
    var /= n - 1
    sd = np.sqrt(var, out=var)
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
    in_sample = _in_sample(n_blocks)
    # Small products (C(16, 8) x 16 by 16 x N): one BLAS thread is faster, and gives the same bits.
    with threadpool_limits(limits=1, user_api="blas"):
        sr_in = _block_sharpes(in_sample, count, s1, s2)
        sr_out = _block_sharpes(_in_sample(n_blocks, out=True), count, s1, s2)
    best = np.argmax(sr_in, axis=1)
    rank = _rank_of(sr_out, best)
    w = rank / (m.shape[1] + 1)
    logits = np.log(w / (1 - w))
    return PBO(float(np.mean(logits <= 0)), logits, n_blocks, m.shape[1])


@lru_cache(maxsize=32)
def _in_sample(n_blocks: int, out: bool = False) -> np.ndarray:
    """[combination, block]: 1 where the combination calls the block in-sample (``out``: out-of-sample)."""
    chosen = list(combinations(range(n_blocks), n_blocks // 2))
    mask = np.zeros((len(chosen), n_blocks))
    mask[np.repeat(np.arange(len(chosen)), n_blocks // 2), np.array(chosen).ravel()] = 1.0
    mask = 1.0 - mask if out else mask
    mask.setflags(write=False)
    return mask


def _rank_of(values: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Per row, the rank (1 = lowest, ties averaged: ``scipy.stats.rankdata``) of the value in
    ``column``: the values below it, plus the middle of those equal to it."""
    x = values[np.arange(len(values)), column][:, None]
    return (values < x).sum(axis=1) + ((values == x).sum(axis=1) + 1) / 2
