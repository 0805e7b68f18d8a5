"""A handful of features recomputed by a separate pandas implementation, on the real
fixture data, and compared with the stored feature_matrix (rtol 1e-8: pandas sums with
Kahan compensation, polars with plain running sums; both are far inside that).

Written from the feature definitions in ``quant_assets.features.contract``, not from the
polars code: windows are pandas ``rolling`` on the raw bars indexed by close time, as-of
joins are ``pandas.merge_asof`` on ``available_at``.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import polars as pl
import pytest

from quant_assets.features.compute import features_for_partitions
from quant_assets.features.inputs import Inputs, all_mapped_days
from quant_assets.partitions import DaySymbol
from quant_assets_tests.features import realdata

DAY = date(2025, 10, 7)
RTOL = 1e-8


def _pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: frame[c].to_list() for c in frame.columns})


@pytest.fixture(scope="module")
def stored() -> pl.DataFrame:
    inputs = Inputs(realdata.bars(), realdata.derivatives(), realdata.latents())
    parts = [DaySymbol(DAY, s) for s in realdata.SYMBOLS]
    days = {p: all_mapped_days(p.day) for p in parts}
    return features_for_partitions(inputs, parts, days)


def _expected_bars(symbol: str) -> pd.DataFrame:
    raw = _pandas(realdata.bars([symbol]).filter(pl.col("ts").dt.date().is_in([DAY.replace(day=6), DAY])))
    b = raw.set_index("available_at").sort_index()  # a bar is known at its close
    log_close = np.log(b["close"])
    lr = log_close.diff()
    x = np.log1p(b["volume"])
    move = b["close"].diff()
    up, down = move.clip(lower=0), (-move).clip(lower=0)
    out = pd.DataFrame(index=b.index)
    out["ret_15m"] = log_close - log_close.shift(3)
    out["ret_1h"] = log_close - log_close.shift(12)
    out["ret_1d"] = log_close - log_close.shift(288)
    out["rv_1h"] = np.sqrt((lr**2).rolling(12).sum())
    out["rv_4h"] = np.sqrt((lr**2).rolling(48).sum())
    out["range_4h"] = np.log(b["high"].rolling(48).max() / b["low"].rolling(48).min())
    out["volz_1d"] = (x - x.rolling(288).mean()) / x.rolling(288).std()
    out["rsi_1h"] = 100 * up.rolling(12).sum() / (up.rolling(12).sum() + down.rolling(12).sum())
    start = pd.Timestamp(DAY, tz="UTC")
    return out[(out.index > start) & (out.index <= start + pd.Timedelta(days=1))]  # t in (D, D+1]


@pytest.mark.parametrize("symbol", realdata.SYMBOLS)
def test_bar_windows_match_pandas(stored, symbol):
    ours = _pandas(stored.filter(pl.col("partition") == f"{DAY}|{symbol}")).set_index("t")
    expected = _expected_bars(symbol)
    assert len(expected) == 288
    for name in expected.columns:
        got = ours.loc[expected.index, name].astype(float).to_numpy()
        np.testing.assert_allclose(got, expected[name].to_numpy(), rtol=RTOL, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("symbol", realdata.SYMBOLS)
def test_funding_and_basis_as_of_match_pandas(stored, symbol):
    ours = _pandas(stored.filter(pl.col("partition") == f"{DAY}|{symbol}").select("t", "funding_rate", "funding_age_h", "basis_bps"))
    # every record of the fixture, D+1 included: pandas picks by available_at alone
    deriv = _pandas(realdata.derivatives([symbol]))
    for metric, column, max_age in (("funding_rate", "funding_rate", pd.Timedelta(hours=8)), ("basis_bps", "basis_bps", pd.Timedelta(hours=1))):
        rows = deriv[deriv.metric == metric].sort_values("available_at")[["available_at", "value"]]
        joined = pd.merge_asof(ours[["t"]].sort_values("t"), rows, left_on="t", right_on="available_at", direction="backward")
        fresh = (joined["t"] - joined["available_at"]) <= max_age
        expected = joined["value"].where(fresh)
        np.testing.assert_allclose(ours[column].astype(float).to_numpy(), expected.to_numpy(), rtol=RTOL, err_msg=metric)
        if metric == "funding_rate":
            age = (joined["t"] - joined["available_at"]).dt.total_seconds() / 3600
            np.testing.assert_allclose(ours["funding_age_h"].to_numpy(), age.to_numpy(), rtol=RTOL)


@pytest.mark.parametrize("symbol", realdata.SYMBOLS)
def test_text_counts_match_pandas(stored, symbol):
    ours = _pandas(stored.filter(pl.col("partition") == f"{DAY}|{symbol}").select("t", "text_post_count_24h", "text_comment_count_1h")).set_index("t")
    lat = _pandas(realdata.latents([symbol]).filter(pl.col("ts").dt.date().is_in([date(2025, 10, 6), DAY])))
    lat = lat.set_index("available_at").sort_index()
    posts_24h = lat["post_count"].rolling("24h").sum()  # (t - 24h, t]
    comments_1h = lat["comment_count"].rolling("1h").sum()
    np.testing.assert_array_equal(ours["text_post_count_24h"].to_numpy(), posts_24h.loc[ours.index].to_numpy())
    np.testing.assert_array_equal(ours["text_comment_count_1h"].to_numpy(), comments_1h.loc[ours.index].to_numpy())
