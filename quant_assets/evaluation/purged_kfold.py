"""Purged k-fold with embargo (Lopez de Prado, Advances in Financial ML, ch. 7).

Rows are decision times ``t`` (increasing) whose labels span ``[t, end]`` (``end = t +
horizon``). The rows are cut into k contiguous test folds. For a fold whose rows start at
``t0`` and whose labels end at the latest at ``t1``:

- purge: a train row is dropped when its label interval touches ``[t0, t1]``, i.e. a row
  before the fold must have ``end < t0`` and a row after it ``t > t1``; otherwise the
  model would train on a return that the test period also realises;
- embargo: rows after the fold must also have ``t > t1 + embargo``, because features
  built on trailing windows still carry the test period for a while after it.

Boundaries are strict: a label ending exactly when the fold starts shares that price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    train: np.ndarray  # row positions
    test: np.ndarray


def purged_kfold(t: np.ndarray, end: np.ndarray, n_splits: int, embargo) -> list[Fold]:
    """k folds over rows ordered by ``t``; ``t``, ``end`` datetime64 (or numbers) and
    ``embargo`` a duration of the same kind (``numpy.timedelta64`` or number)."""
    t = np.asarray(t)
    end = np.asarray(end)
    if t.shape != end.shape or t.ndim != 1:
        raise ValueError(f"purged k-fold: t and end must be 1-d of one length (got {t.shape}, {end.shape})")
    if not 2 <= n_splits <= t.size:
        raise ValueError(f"purged k-fold: n_splits={n_splits} must be in [2, {t.size}] for {t.size} rows")
    if t.size > 1 and not (np.diff(t) > np.zeros_like(np.diff(t))).all():
        raise ValueError("purged k-fold: t must be strictly increasing")
    if (end < t).any():
        bad = int(np.argmax(end < t))
        raise ValueError(f"purged k-fold: row {bad} has a label ending before it starts ({end[bad]} < {t[bad]})")
    folds = []
    for test in np.array_split(np.arange(t.size), n_splits):
        t0, t1 = t[test[0]], end[test].max()
        before = end < t0
        after = t > t1 + embargo
        train = np.flatnonzero(before | after)
        folds.append(Fold(train=train, test=test))
    return folds
