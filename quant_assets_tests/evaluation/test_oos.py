"""oos_eval's pure parts: rows per (family, horizon) through the reference strategy, the
trailing inputs per horizon, the summary and what the checks re-derive."""

import json
import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from quant_assets.evaluation import oos, oos_verify, strategy
from quant_assets.labels.forward import LABEL_SCHEMA, available_column, gross_column, missing_column, net_column
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS, embargo
from quant_assets.partitions import DaySymbol
from quant_assets_tests.evaluation.kit import grid

DAY = date(2025, 11, 5)  # a Wednesday: its last row, Thu 00:00, is a 7d decision
PART = DaySymbol(DAY, "BTC-USDT")
COST = 0.0022
FIT = oos.Fit("models:/m-1", datetime(2025, 10, 28, 23, 55, tzinfo=timezone.utc))


def _day(seed: int = 0, known=HORIZON_NAMES):
    rng = np.random.default_rng(seed)
    t = grid(DAY, 1)
    n = len(t)
    features = pl.DataFrame(
        {"t": t, **{c: rng.uniform(0.002, 0.02, n) for c in ("rv_1h", "rv_4h", "rv_1d")}, **{c: rng.normal(0, 0.01, n) for c in ("ret_1h", "ret_4h", "ret_1d")}}
    )
    labels = {"t": t, "close_t": np.full(n, 100.0)}
    for h in HORIZON_NAMES:
        gross = rng.normal(0, 0.01, n) if h in known else np.full(n, np.nan)
        labels[gross_column(h)] = gross
        labels[net_column(h)] = gross - COST
        labels[available_column(h)] = [x + HORIZONS[h] if h in known else None for x in t]
        labels[missing_column(h)] = np.full(n, h not in known)
    labels = pl.DataFrame(labels).with_columns(pl.col(pl.Float64).fill_nan(None)).cast(LABEL_SCHEMA)
    predictions = {f: rng.normal(0, 0.01, (n, len(HORIZON_NAMES))) for f in ("lgbm", "lgbm_no_text")}
    return features, labels, predictions


def test_every_family_the_model_returns_and_every_baseline_per_horizon():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    assert rows.schema == pl.Schema(oos.ROW_SCHEMA)
    families = {"lgbm", "lgbm_no_text", *strategy.BASELINES}
    assert set(rows.group_by("family", "horizon").len().iter_rows()) == {(f, h, 288) for f in families for h in HORIZON_NAMES}
    # baselines predict nothing and name no fit; model rows name theirs
    base = rows.filter(pl.col("family").is_in(strategy.BASELINES))
    assert base["prediction"].null_count() == base.height and base["model_uri"].null_count() == base.height
    assert (rows.filter(pl.col("family") == "lgbm_no_text")["model_uri"] == FIT.model_uri).all()
    # the day starts flat: the first trade pays its entry
    bh = rows.filter((pl.col("family") == "buy_and_hold") & (pl.col("horizon") == "1h")).sort("t")
    first = bh.filter(pl.col("evaluable")).row(0, named=True)
    assert first["trade_size"] == 1.0 and first["pnl"] == pytest.approx(first["label"] - COST / 2)


def test_the_7d_series_uses_the_1d_volatility_scaled_to_seven_days():
    features, labels, predictions = _day()
    predictions = {"lgbm": np.full((features.height, 4), 0.05)}
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    last = features.sort("t").row(-1, named=True)  # Thu 00:00: the one 7d decision of the day
    decided = rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "7d") & pl.col("evaluable"))
    assert decided["t"].to_list() == [last["t"]]
    expected = min((0.05 - COST) / (last["rv_1d"] * math.sqrt(7)), 1.0)
    assert decided["position"][0] == pytest.approx(expected)
    mom = rows.filter((pl.col("family") == "momentum") & (pl.col("horizon") == "1h") & pl.col("evaluable")).sort("t")
    signs = features.sort("t").filter(pl.col("t").is_in(mom["t"].to_list()))["ret_1h"].sign()
    assert mom["position"].to_list() == signs.to_list()


def test_summary_keys_each_series_and_recomputes_from_the_rows():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    stored = {oos.SUMMARY_KEY: oos.summary_json(rows)}
    summary = json.loads(stored[oos.SUMMARY_KEY])
    assert "lgbm/1h" in summary and "flat/7d" in summary and summary["flat/1d"]["pnl"] == 0.0
    assert summary["flat/1h"]["rank_ic"] is None  # a baseline has no prediction to rank
    assert len(summary["lgbm/1h"]["calibration"]) == 5
    assert oos_verify.summary_problems(PART, rows, stored) == []
    tampered = json.loads(stored[oos.SUMMARY_KEY])
    tampered["lgbm/4h"]["pnl"] += 0.01
    problems = oos_verify.summary_problems(PART, rows, {oos.SUMMARY_KEY: json.dumps(tampered)})
    assert len(problems) == 1 and "/lgbm/4h/pnl" in problems[0] and str(PART) in problems[0]
    assert "no oos_summary footer" in oos_verify.summary_problems(PART, rows, {})[0]


def test_a_changed_label_is_named():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    assert oos_verify.label_problems(PART, rows, labels) == []
    t = rows["t"][100]
    changed = rows.with_columns(
        label=pl.when((pl.col("t") == t) & (pl.col("horizon") == "4h") & (pl.col("family") == "lgbm")).then(pl.col("label") + 1e-9).otherwise("label")
    )
    problems = oos_verify.label_problems(PART, changed, labels)
    assert len(problems) == 1 and f"lgbm 4h t={t}" in problems[0] and "1 rows" in problems[0]


def test_a_fit_ending_inside_the_embargo_is_named():
    features, labels, predictions = _day()
    rows = oos.evaluate_day(features, labels, predictions, FIT, cost=COST)
    record = {"model_uri": FIT.model_uri, "fit_end": FIT.fit_end}
    assert oos_verify.embargo_problems(PART, rows, record) == []
    late = PART.start - embargo() + timedelta(minutes=5)
    problems = oos_verify.embargo_problems(PART, rows, {"model_uri": FIT.model_uri, "fit_end": late})
    assert any("after the day starts" in p for p in problems)
    assert any("name a fit other than" in p for p in problems)  # the rows were made by another fit
    late_rows = oos.evaluate_day(features, labels, predictions, oos.Fit(FIT.model_uri, late), cost=COST)
    problems = oos_verify.embargo_problems(PART, late_rows, {"model_uri": FIT.model_uri, "fit_end": late})
    assert any(f"{2 * 4 * 288} prediction rows from a fit ending less than" in p for p in problems)


def test_a_day_is_partial_until_its_longest_label_is_known():
    _, labels, _ = _day()
    seven_days_on = datetime(2025, 11, 6, tzinfo=timezone.utc) + timedelta(days=7)
    assert oos.day_missing_horizons(DAY, labels, seven_days_on - timedelta(minutes=5)) == ["7d"]
    assert oos.day_missing_horizons(DAY, labels, seven_days_on) == []
    _, unlabelled, _ = _day(known=("1h", "4h"))  # time has passed, but the labels asset lacks 1d/7d
    assert oos.day_missing_horizons(DAY, unlabelled, seven_days_on) == ["1d", "7d"]


def test_a_prediction_of_the_wrong_shape_is_one_clear_line():
    features, labels, _ = _day()
    with pytest.raises(ValueError, match=r"family mhnet predicted shape \(3, 4\), expected \(288, 4\)"):
        oos.evaluate_day(features, labels, {"mhnet": np.zeros((3, 4))}, FIT, cost=COST)
