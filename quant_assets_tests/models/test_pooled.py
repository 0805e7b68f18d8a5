"""The pooled family's pure half: its training set is purged and embargoed like a per-symbol
fit's, its ranks are point in time, and its checks catch a planted leak."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from quant_assets.features import contract
from quant_assets.labels.forward import available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS
from quant_assets.models import pooled, pooled_verify
from quant_assets.models.config import TrainingConfig
from quant_assets.models.window import fit_window
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import BAR, TS_DTYPE

SYMBOLS = ("AAA-USDT", "BBB-USDT", "CCC-USDT")
DAY = date(2025, 11, 3)  # a Monday: its own anchor
TRAIN_DAYS = 21


def _times(first: datetime, last: datetime) -> list[datetime]:
    n = int((last - first) / BAR) + 1
    return [first + i * BAR for i in range(n)]


def _features(times: list[datetime], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cols = {"t": pl.Series(times, dtype=TS_DTYPE)}
    for name in contract.FEATURE_NAMES:
        cols[name] = pl.Series(rng.normal(size=len(times))).cast(contract.COLUMNS[name])
    for flag in contract.FLAG_NAMES:
        cols[flag] = pl.Series([False] * len(times))
    return pl.DataFrame(cols)


def _labels(features: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Labels that a model can learn a little of (ret_1h), known at t + h."""
    rng = np.random.default_rng(seed + 100)
    out = features.select("t")
    for h in HORIZON_NAMES:
        y = 0.3 * features["ret_1h"].to_numpy() + rng.normal(size=features.height)
        out = out.with_columns(
            pl.Series(gross_column(h), y), pl.Series(net_column(h), y - 0.001),
            (pl.col("t") + HORIZONS[h]).alias(available_column(h)), pl.lit(False).alias(missing_column(h)),
        )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def universe():
    window = fit_window(DAY, SYMBOLS[0], TRAIN_DAYS, 7)
    times = _times(window.start - timedelta(days=1), window.anchor_start + timedelta(days=1))
    features = {s: _features(times, i) for i, s in enumerate(SYMBOLS)}
    labels = {s: _labels(features[s], i) for i, s in enumerate(SYMBOLS)}
    return window, features, labels


def test_the_training_set_is_each_symbols_purged_rows_on_the_thin_grid(universe):
    window, features, labels = universe
    codes = pooled.symbol_codes(list(SYMBOLS))
    data = pooled.pooled_training_set(features, labels, window, codes)
    assert data.data.columns == pooled.pooled_columns()
    assert set(data.symbols.tolist()) == set(SYMBOLS)
    t = data.data.t.astype("datetime64[us]").astype(np.int64) // 1_000_000
    assert np.all(t % (300 * pooled.THIN) == 0), "rows off the thinned grid"
    fit_end = np.datetime64(window.end.replace(tzinfo=None), "us")
    assert data.data.t.max() <= fit_end and data.data.t.min() > np.datetime64(window.start.replace(tzinfo=None), "us")
    for j, h in enumerate(HORIZON_NAMES):
        used = data.data.usable[:, j]
        assert used.any()
        assert data.data.label_available_at[used, j].max() <= fit_end, f"{h}: a label known after the fit end trained"
        # the longest horizon's rows stop a horizon before the fit end: purged, not merely windowed
        assert data.data.t[used].max() <= fit_end - np.timedelta64(int(HORIZONS[h] / timedelta(microseconds=1)), "us")
    code_col = data.data.columns.index(pooled.SYMBOL_CODE)
    for s, code in codes.items():
        assert set(data.data.x[data.symbols == s, code_col].tolist()) == {float(code)}


def test_a_planted_late_label_is_purged(universe):
    """A label row that claims availability after the fit end never trains, whatever its t."""
    window, features, labels = universe
    victim = SYMBOLS[1]
    early = window.start + timedelta(days=2)
    planted = labels[victim].with_columns(
        pl.when(pl.col("t") <= early).then(pl.lit(window.end + timedelta(minutes=5), TS_DTYPE)).otherwise(pl.col(available_column("1h")))
        .alias(available_column("1h"))
    )  # fmt: skip
    data = pooled.pooled_training_set(features, {**labels, victim: planted}, window, pooled.symbol_codes(list(SYMBOLS)))
    j = HORIZON_NAMES.index("1h")
    mine = (data.symbols == victim) & data.data.usable[:, j]
    assert data.data.t[mine].min() > np.datetime64(early.replace(tzinfo=None), "us")
    others = (data.symbols != victim) & data.data.usable[:, j]
    assert data.data.t[others].min() <= np.datetime64(early.replace(tzinfo=None), "us")


def test_ranks_at_t_read_only_rows_stamped_t(universe):
    _, features, _ = universe
    day = {s: f.head(50) for s, f in features.items()}
    base = pooled.pooled_inputs(day, pooled.symbol_codes(list(SYMBOLS)))
    # a later row of another symbol, with an extreme value, does not move any rank at the earlier t
    later = day[SYMBOLS[2]].tail(1).with_columns(pl.col("t") + timedelta(minutes=5), pl.lit(1e9).alias("ret_1h"))
    planted = {**day, SYMBOLS[2]: pl.concat([day[SYMBOLS[2]], later])}
    again = pooled.pooled_inputs(planted, pooled.symbol_codes(list(SYMBOLS)))
    for s in SYMBOLS[:2]:
        assert again[s].select(pooled.rank_columns()).equals(base[s].select(pooled.rank_columns()))
    # ranks at one t are the order of the values at that t, in (0, 1)
    t0 = day[SYMBOLS[0]]["t"][0]
    values = {s: day[s].filter(pl.col("t") == t0)["ret_1h"][0] for s in SYMBOLS}
    ranks = {s: base[s].filter(pl.col("t") == t0)["xs_rank_ret_1h"][0] for s in SYMBOLS}
    assert sorted(SYMBOLS, key=values.get) == sorted(SYMBOLS, key=ranks.get)
    assert all(0 < r < 1 for r in ranks.values())
    # and a changed value at t does move its rank: the test could fail
    moved = {**day, SYMBOLS[0]: day[SYMBOLS[0]].with_columns(pl.when(pl.col("t") == t0).then(-1e9).otherwise(pl.col("ret_1h")).alias("ret_1h"))}
    assert pooled.pooled_inputs(moved, pooled.symbol_codes(list(SYMBOLS)))[SYMBOLS[0]]["xs_rank_ret_1h"][0] == pytest.approx(0.5 / 3)


def test_fit_predicts_and_its_checks_catch_a_planted_leak(universe, tmp_path):
    window, features, labels = universe
    config = TrainingConfig(lgbm_rounds=20)
    model = pooled.fit_pooled(features, labels, window, config, list(SYMBOLS))
    day = {s: f.filter(pl.col("t") > window.anchor_start) for s, f in features.items()}
    pred = model.predict_symbol(SYMBOLS[0], day)
    assert pred.shape == (day[SYMBOLS[0]].height, len(HORIZON_NAMES)) and np.isfinite(pred).all()
    loaded = pooled.PooledModel.load(model.save(tmp_path / "m"))
    assert np.allclose(loaded.predict_symbol(SYMBOLS[0], day), pred)
    part = DaySymbol(DAY, SYMBOLS[0])
    lookups = {s: {h: dict(zip(labels[s]["t"].to_list(), labels[s][available_column(h)].to_list())) for h in HORIZON_NAMES} for s in SYMBOLS}
    record = {"pooled_fit_end": window.end}
    assert pooled_verify.embargo_problems(part, record, loaded) == []
    assert pooled_verify.purge_problems(part, loaded, lookups) == []
    assert pooled_verify.input_problems(part, loaded) == []
    # planted: the labels asset says one symbol's newest 4h training label came after the fit end
    newest = pooled_verify.symbol_record(loaded, SYMBOLS[2])["train_t_max_4h"]
    leaky = {**lookups, SYMBOLS[2]: {**lookups[SYMBOLS[2]], "4h": {**lookups[SYMBOLS[2]]["4h"], newest: window.end + timedelta(hours=1)}}}
    found = pooled_verify.purge_problems(part, loaded, leaky)
    assert len(found) == 1 and SYMBOLS[2] in found[0] and "4h" in found[0]
    # planted: a pooled window that reaches into the served day
    late = pooled.PooledModel.load(tmp_path / "m")
    late.window = pooled.pooled_window(fit_window(DAY + timedelta(days=1), SYMBOLS[0], TRAIN_DAYS, 1))
    assert pooled_verify.embargo_problems(part, {"pooled_fit_end": late.window.end}, late)
