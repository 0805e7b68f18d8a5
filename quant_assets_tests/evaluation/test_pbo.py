"""PBO by CSCV: an independent loop implementation agrees, luck gives about one half,
skill gives about zero."""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np
import pytest

from quant_assets.evaluation.pbo import probability_of_backtest_overfitting as pbo


def _by_loops(m: np.ndarray, s: int) -> np.ndarray:
    """The paper's procedure, row by row, with plain numpy Sharpes."""
    blocks = np.array_split(np.arange(m.shape[0]), s)
    logits = []
    for combo in combinations(range(s), s // 2):
        ins = np.concatenate([blocks[b] for b in combo])
        outs = np.concatenate([blocks[b] for b in range(s) if b not in combo])
        sr_in = m[ins].mean(0) / m[ins].std(0, ddof=1)
        sr_out = m[outs].mean(0) / m[outs].std(0, ddof=1)
        best = int(np.argmax(sr_in))
        rank = 1 + (sr_out < sr_out[best]).sum() + 0.5 * ((sr_out == sr_out[best]).sum() - 1)
        w = rank / (m.shape[1] + 1)
        logits.append(np.log(w / (1 - w)))
    return np.array(logits)


def test_matches_a_loop_implementation_of_the_paper():
    m = np.random.default_rng(1).normal(size=(83, 7))  # blocks of unequal length
    got = pbo(m, n_blocks=6)
    expected = _by_loops(m, 6)
    assert got.logits == pytest.approx(expected)
    assert got.probability == pytest.approx(np.mean(expected <= 0))
    assert len(got.logits) == comb(6, 3)


def test_pure_noise_variants_overfit_about_half_the_time():
    m = np.random.default_rng(2).normal(0.0, 0.01, size=(1000, 50))
    got = pbo(m)
    assert len(got.logits) == comb(16, 8)
    assert 0.3 <= got.probability <= 0.7


def test_one_skilled_variant_among_noise_is_not_overfit():
    m = np.random.default_rng(3).normal(0.0, 0.01, size=(1000, 50))
    m[:, 17] += 0.003
    assert pbo(m).probability < 0.05


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="N >= 2"):
        pbo(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="must be even"):
        pbo(np.zeros((100, 4)), n_blocks=5)
    with pytest.raises(ValueError, match="20 periods is too few for 16 blocks"):
        pbo(np.zeros((20, 4)))
    bad = np.zeros((100, 4))
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="1 non-finite"):
        pbo(bad)
