"""oos_eval over a run's partitions: a symbol's consecutive days evaluated at once are the
days evaluated one by one with the previous close carried in (rows, closing positions, the
footer's account), cut where that would not hold; and the grouped summary is each series'."""

import json
import math
from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from scipy import stats

from quant_assets.evaluation import metrics, oos, oos_run, oos_verify, portfolio, strategy
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.partitions import DaySymbol
from quant_assets_tests.evaluation.synthetic_series import oos_day

FIRST = date(2025, 11, 3)
COST = 0.0022
SYMBOL = "BTC-USDT"
EARLY = oos.Fit("models:/m-early", datetime(2025, 10, 20, 23, 55, tzinfo=timezone.utc))
LATE = oos.Fit("models:/m-late", datetime(2025, 10, 27, 23, 55, tzinfo=timezone.utc))


def _days(n: int):
    return [oos_day(FIRST + timedelta(days=i), seed=i, cost=COST) for i in range(n)]


def _one_by_one(days, fits, carry=None):
    """Each day alone, opening with the previous day's closing positions."""
    out, carry = [], carry or {}
    for (features, labels, predictions), fit in zip(days, fits):
        rows = oos.evaluate_day(features, labels, predictions, fit, cost=COST, carry=carry)
        carry = oos.closing_positions(rows)
        out.append(rows)
    return out


def test_a_span_evaluated_at_once_is_each_day_evaluated_alone_with_the_previous_close_carried_in():
    days, fits = _days(4), [EARLY, EARLY, LATE, LATE]
    opening = {("lgbm", "1h"): 0.4, ("buy_and_hold", "1d"): 1.0, (portfolio.PORTFOLIO, "1h"): -0.1}
    alone = _one_by_one(days, fits, carry=opening)
    span = oos.evaluate_day(
        pl.concat([f for f, _, _ in days]), pl.concat([lab for _, lab, _ in days]),
        {f: np.concatenate([p[f] for _, _, p in days]) for f in days[0][2]},
        {FIRST + timedelta(days=i): fit for i, fit in enumerate(fits)}, cost=COST, carry=opening,
    )  # fmt: skip
    by_day = oos.split_days(span)
    assert list(by_day) == [FIRST + timedelta(days=i) for i in range(4)]
    for rows, day in zip(alone, by_day.values()):
        assert day.rows.equals(rows)  # same rows, same order
        assert day.closing == oos.closing_positions(rows)
    # each day's rows name the fit that served that day: a day handed the later fit is caught
    later = by_day[FIRST + timedelta(days=2)].rows
    assert (later.filter(pl.col("model_uri").is_not_null())["model_uri"] == LATE.model_uri).all()
    record = {"model_uri": EARLY.model_uri, "fit_end": EARLY.fit_end}
    (problem,) = oos_verify.embargo_problems(DaySymbol(FIRST + timedelta(days=2), SYMBOL), later, record)
    assert "name a fit other than the model partition's" in problem


def test_a_day_without_a_fit_is_one_clear_line():
    ((features, labels, predictions),) = _days(1)
    with pytest.raises(ValueError, match=r"no fit given for day\(s\) 2025-11-03"):
        oos.evaluate_day(features, labels, predictions, {FIRST + timedelta(days=1): EARLY}, cost=COST)


def _predict(fit: oos.Fit, symbol: str, features: pl.DataFrame) -> dict[str, np.ndarray]:
    """Row by row from the features, as a model does: the early fit predicts two families, the late one only lgbm."""
    base = np.column_stack([features[c].to_numpy() * 2 for c in ("ret_1h", "ret_4h", "ret_1d", "ret_1d")])
    return {"lgbm": base, "lgbm_no_text": -base} if fit == EARLY else {"lgbm": base * 0.5}


def test_a_span_is_cut_at_a_day_without_rows_and_where_the_families_change(monkeypatch):
    raw = _days(5)
    raw[3] = (raw[3][0].clear(), raw[3][1].clear(), None)  # a day without feature rows
    fits = [EARLY, EARLY, LATE, LATE, LATE]
    parts = [DaySymbol(FIRST + timedelta(days=i), SYMBOL) for i in range(5)]
    days = [oos_run.Day(p, f, lab, fit) for p, (f, lab, _), fit in zip(parts, raw, fits)]
    calls = []
    evaluate_day = oos.evaluate_day
    monkeypatch.setattr(oos, "evaluate_day", lambda features, *a, **k: calls.append(features.height) or evaluate_day(features, *a, **k))
    opened = oos.carry_record({}, None, "flat: no previous day")
    out = oos_run.evaluate_span(days, _predict, {}, opened, cost=COST, rules=portfolio.Rules.from_env())
    assert calls == [2 * 288, 288, 0, 288]  # [day 1, day 2] (two families), [day 3] (the late fit's one), the empty day, [day 5]
    monkeypatch.undo()
    alone = _one_by_one([(d.features, d.labels, _predict(d.fit, SYMBOL, d.features)) for d in days], fits)
    assert [e.part for e in out] == parts
    for e, rows, before in zip(out, alone, [None, *alone[:-1]]):
        assert e.rows.equals(rows)
        if before is None:
            assert e.carried == opened
        else:
            assert e.carried == oos.carry_record(oos.closing_positions(before), str(e.part.day - timedelta(days=1)), "evaluated earlier in this run")
    assert out[4].carried["positions"] == {}  # after the day without rows the book opens flat, and says from where


def test_consecutive_days_of_each_symbol_are_one_span():
    day = lambda i, s: DaySymbol(FIRST + timedelta(days=i), s)  # noqa: E731
    parts = [day(0, "ETH-USDT"), day(1, "BTC-USDT"), day(0, "BTC-USDT"), day(3, "BTC-USDT"), day(1, "ETH-USDT")]
    assert oos_run.consecutive(parts) == [[day(0, "BTC-USDT"), day(1, "BTC-USDT")], [day(3, "BTC-USDT")], [day(0, "ETH-USDT"), day(1, "ETH-USDT")]]


def test_by_partition_gives_each_partition_its_rows_whatever_their_order():
    parts = [DaySymbol(FIRST + timedelta(days=i), s) for i in range(2) for s in ("BTC-USDT", "ETH-USDT")]
    frame = pl.DataFrame({"x": range(8), "partition_day": [p.day for p in parts] * 2, "symbol": [p.symbol for p in parts] * 2})
    apart = oos_run.by_partition(frame, parts)  # each partition's rows in two places
    together = oos_run.by_partition(frame.sort("partition_day", "symbol", maintain_order=True), parts)
    for part in parts:
        assert apart[part].equals(together[part]) and apart[part].columns == ["x"] and apart[part].height == 2


def _series_frame(seed: int = 3) -> pl.DataFrame:
    """A day's rows of several series: ties in predictions, unknown labels, a constant
    predictor, baselines without predictions."""
    features, labels, predictions = oos_day(FIRST, seed=seed, known=("1h", "4h", "1d"), cost=COST)
    predictions = {"lgbm": np.round(predictions["lgbm"], 2), "constant": np.full_like(predictions["lgbm"], 0.01)}
    return oos.evaluate_day(features, labels, predictions, EARLY, cost=COST)


def test_the_grouped_summary_is_each_series_alone_and_spearman_bit_for_bit():
    rows = _series_frame()
    summary = metrics.summarise(rows)
    assert oos.summary_json(rows) == oos.summary_json(rows.sample(fraction=1.0, shuffle=True, seed=1))  # input order is irrelevant
    for (family, h), figures in summary.items():
        one = rows.filter((pl.col("family") == family) & (pl.col("horizon") == h)).sort("t")
        p, y = one["prediction"].to_numpy(), one["label"].to_numpy()
        keep = np.isfinite(p) & np.isfinite(y)
        p, y = p[keep], y[keep]
        spearman = math.nan if p.size < 3 or np.ptp(p) == 0 or np.ptp(y) == 0 else float(stats.spearmanr(p, y).statistic)
        assert figures["rank_ic"] == spearman or (math.isnan(spearman) and math.isnan(figures["rank_ic"]))
        decisions = one.filter(pl.col("evaluable"))
        assert figures["pnl"] == float(decisions["pnl"].sum()) and figures["decisions"] == decisions.height
        assert figures["trades"] == int((one["trade_size"] > strategy.TRADE_EPS).sum())
        assert figures["final_position"] == one["position"][-1]
        equity = np.concatenate([[0.0], np.cumsum(decisions["pnl"].to_numpy())])
        assert figures["max_drawdown"] == float(1 - math.exp(-(np.maximum.accumulate(equity) - equity).max()))
        buckets = pl.DataFrame({"p": p, "y": y, "b": (stats.rankdata(p, "ordinal") - 1) * 5 // max(p.size, 1)})
        expected = buckets.group_by("b").agg(pl.len(), pl.col("p").mean(), pl.col("y").mean()).sort("b").rows()
        got = [(c["bucket"], c["rows"], c["predicted"], c["realised"]) for c in figures["calibration"]]
        assert [g[:2] for g in got] == [e[:2] for e in expected]
        assert [g[2:] for g in got] == [pytest.approx(e[2:], rel=1e-12) for e in expected]
    assert math.isnan(summary[("constant", "1h")]["rank_ic"]) and summary[("flat", "1h")]["calibration"] == []
    assert summary[("lgbm", "7d")]["decisions"] == 0 and math.isnan(summary[("lgbm", "7d")]["rank_ic"])  # 7d labels unknown


def test_the_summary_check_still_catches_a_figure_the_rows_do_not_support():
    rows = _series_frame()
    honest = {oos.SUMMARY_KEY: oos.summary_json(rows)}
    part = DaySymbol(FIRST, SYMBOL)
    assert oos_verify.summary_problems(part, rows, honest) == []
    flattering = json.loads(honest[oos.SUMMARY_KEY])
    flattering["lgbm/1d"]["calibration"][0]["realised"] *= 1 + 1e-6  # a bucket's realised mean nudged
    (problem,) = oos_verify.summary_problems(part, rows, {oos.SUMMARY_KEY: json.dumps(flattering)})
    assert "/lgbm/1d/calibration[0]/realised" in problem
    assert set(HORIZON_NAMES) == {k.split("/")[1] for k in flattering if k.startswith("lgbm/")}
