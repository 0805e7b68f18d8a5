"""The gate's batched arithmetic gives each series, window and draw exactly what it gets alone:
the bootstrap's positions are arch's, the PBO's rank is scipy's, a window judged from a book of
many days is the window judged on its own rows, bit for bit."""

from datetime import date, timedelta

import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap
from scipy import stats

from quant_assets.evaluation import gate_book, gate_window, pbo
from quant_assets.evaluation.bootstrap import SEED, _indices, sharpe_interval, sharpe_intervals
from quant_assets.evaluation.deflated_sharpe import deflated_sharpe, deflated_sharpes
from quant_assets.evaluation.gate import Thresholds
from quant_assets_tests.evaluation.planted_oos_days import SERVABLE, planted_day, planted_flags

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(("days", "block"), [(3, 2), (20, 3), (60, 4), (60, 7)])
def test_bootstrap_positions_are_arch_stationary_bootstraps(days, block):
    arch = StationaryBootstrap(block, np.arange(days), seed=SEED)
    assert np.array_equal(_indices(days, block, 1000, SEED), np.stack([d[0][0] for d in arch.bootstrap(1000)]))


def test_batched_intervals_and_deflated_sharpes_are_each_series_alone():
    pnl = RNG.normal(0.0005, 0.01, (12, 45)) * (RNG.random((12, 45)) > 0.3)
    pnl[0] = 0.0  # a series that never moves
    horizons = [1 / 24, 1 / 6, 1.0, 7.0] * 3
    assert sharpe_intervals(pnl, horizons) == [sharpe_interval(p, h) for p, h in zip(pnl, horizons)]
    trials = RNG.normal(0.05, 0.1, 20)
    together, alone = deflated_sharpes(pnl, trials, 60), [deflated_sharpe(p, trials, 60) for p in pnl]
    assert [vars(a) for a in together] == [vars(b) for b in alone]


def test_the_best_variants_rank_is_scipys_average_rank_ties_included():
    values = RNG.integers(0, 4, (500, 9)).astype(float)  # many ties
    best = RNG.integers(0, 9, 500)
    assert np.array_equal(pbo._rank_of(values, best), stats.rankdata(values, axis=1)[np.arange(500), best])


def test_a_window_sliced_from_a_longer_book_is_the_window_judged_alone():
    first = date(2025, 10, 1)
    rows = {first + timedelta(days=i): planted_day(first + timedelta(days=i), {("lgbm", "4h"): 0.5}, 0.1, families=SERVABLE, portfolio=0.1)
            for i in range(45)}  # fmt: skip
    flags = {d: planted_flags(d, {"text": 0.5}) for d in rows}
    book = gate_book.book_of_days(rows, flags)
    day = first + timedelta(days=40)
    window = gate_window.window_days(day, 30, first)
    held = {d: rows[d] for d in window if d in rows}
    alone = gate_window.verdicts(held, (window[0], window[-1]), [], Thresholds(window_days=30), features_by_day=flags)
    sliced = gate_window.judge(book, sorted(held), (window[0], window[-1]), [], Thresholds(window_days=30))
    assert alone.height == 21 and sliced.equals(alone)
    assert sliced.write_ipc(None).getvalue() == alone.write_ipc(None).getvalue()
