"""The daily Sharpe's interval: a seeded stationary block bootstrap over days whose blocks are
at least the holding horizon, so a book that holds a week is not taken for seven independent days."""

import math

import numpy as np
import pytest

from quant_assets.evaluation.bootstrap import block_days, sharpe_interval
from quant_assets.evaluation.metrics import annualised_sharpe


def _weekly(weeks: int, seed: int = 3) -> np.ndarray:
    """Daily PnL of a book that holds a week: each week's seven days share one outcome."""
    rng = np.random.default_rng(seed)
    return np.repeat(rng.normal(0.002, 0.01, weeks), 7) + rng.normal(0, 0.0005, weeks * 7)


def test_the_interval_is_seeded_and_brackets_the_sharpe():
    pnl = np.random.default_rng(1).normal(0.001, 0.01, 60)
    a, b = sharpe_interval(pnl), sharpe_interval(pnl)
    assert a == b, "the same days give the same interval, bit for bit"
    assert a.low < annualised_sharpe(pnl) < a.high and a.level == 0.9


def test_a_week_long_book_is_resampled_by_the_week_and_says_how_few_days_are_independent():
    pnl = _weekly(9)
    held = sharpe_interval(pnl, horizon_days=7)
    as_if_daily = sharpe_interval(pnl, horizon_days=1)
    assert (held.block_days, held.independent_days) == (7, 9.0)
    assert (as_if_daily.block_days, as_if_daily.independent_days) == (4, 63.0)
    assert "mean block 7d, 9 independent days" in held.describe()
    assert held != as_if_daily, "the blocks drawn follow the horizon"


@pytest.mark.parametrize(("days", "horizon", "block"), [(60, 1 / 24, 4), (8, 1, 2), (60, 7, 7), (400, 1, 8)])
def test_block_length_is_the_longer_of_the_horizon_and_the_cube_root(days, horizon, block):
    assert block_days(days, horizon) == block


def test_too_few_days_give_no_interval_and_bad_settings_are_refused():
    assert math.isnan(sharpe_interval([0.01, -0.02]).low)
    with pytest.raises(ValueError, match="level"):
        sharpe_interval(np.zeros(10), level=1.0)
    with pytest.raises(ValueError, match="horizon"):
        sharpe_interval(np.zeros(10), horizon_days=0)
