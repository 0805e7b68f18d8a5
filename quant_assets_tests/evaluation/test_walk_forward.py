"""Walk-forward sub-windows: contiguous, covering, and counting only real wins."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation.metrics import annualised_sharpe
from quant_assets.evaluation.walk_forward import beats_baselines, window_sharpes


def daily_frame(days: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    noise = lambda: rng.normal(0.0, 0.01, days)  # noqa: E731
    # The strategy earns only in the first and third quarters.
    edge = np.where((np.arange(days) // (days // 4)) % 2 == 0, 0.01, -0.01)
    return pl.DataFrame(
        {
            "day": [date(2025, 10, 1) + timedelta(days=i) for i in range(days)],
            "strategy": edge + noise(),
            "flat": np.zeros(days),
            "buy_and_hold": noise(),
            "momentum": noise(),
        }
    )


def test_windows_are_contiguous_cover_every_day_and_carry_each_series_sharpe():
    daily = daily_frame(42)
    got = window_sharpes(daily, k=4)
    assert got["days"].to_list() == [11, 11, 10, 10]
    assert got["start"][0] == date(2025, 10, 1) and got["end"][-1] == date(2025, 11, 11)
    for a, b in zip(got["end"][:-1], got["start"][1:]):
        assert b - a == timedelta(days=1)
    assert got["strategy"][1] == pytest.approx(annualised_sharpe(daily["strategy"][11:22].to_numpy()))
    assert got["flat"].to_list() == [0.0] * 4


def test_beats_baselines_counts_windows_where_the_strategy_tops_every_baseline():
    got = window_sharpes(daily_frame(40), k=4)
    assert beats_baselines(got) == 2
    # A baseline that is better everywhere leaves no window won.
    assert beats_baselines(got.with_columns(momentum=pl.col("strategy") + 1.0)) == 0
    # Equal is not better.
    assert beats_baselines(got.with_columns(flat=pl.col("strategy"))) == 0


def test_too_few_days_or_a_missing_series_is_refused():
    with pytest.raises(ValueError, match="4 sub-windows need at least 8 days, got 6"):
        window_sharpes(daily_frame(6)[:6], k=4)
    with pytest.raises(ValueError, match="momentum missing"):
        window_sharpes(daily_frame(40).drop("momentum"))
