"""Which published verdicts the gate's check op still sends to MLflow: of the days one fit
serves in a run, the newest (its portfolio tags) and, per horizon, the newest the served
family passed (its challenger). The others would end in the same aliases and tags."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from quant_assets.assets.gate_checks import deciding
from quant_assets.partitions import DaySymbol


def _verdicts(passed_on: tuple[str, ...], family: str = "lgbm") -> pl.DataFrame:
    rows = [(f, h, f == family and h in passed_on) for f in ("lgbm", "lgbm_no_text") for h in ("1h", "4h")]
    return pl.DataFrame(rows, schema={"family": pl.String, "horizon": pl.String, "passed": pl.Boolean}, orient="row")


def test_only_the_newest_day_of_a_fit_and_its_newest_served_passes_move_aliases():
    start = date(2025, 11, 3)
    days = [start + timedelta(days=i) for i in range(7)]
    fit_a, fit_b = '{"1h": "1", "4h": "1"}', '{"1h": "2", "4h": "2"}'
    records, verdicts = {}, {}
    for i, day in enumerate(days):
        part = DaySymbol(day, "BTC-USDT")
        records[part] = {"versions": fit_a if i < 5 else fit_b}
        # fit A: the served family passes 1h on days 1 and 3, 4h on day 0; an ablation passes 4h on day 4
        passed = {0: ("4h",), 1: ("1h",), 3: ("1h",)}.get(i, ())
        verdicts[part] = _verdicts(passed)
    verdicts[DaySymbol(days[4], "BTC-USDT")] = _verdicts(("4h",), family="lgbm_no_text")
    other = DaySymbol(days[2], "ETH-USDT")  # another symbol's fit is its own
    records[other], verdicts[other] = {"versions": fit_a}, _verdicts(())

    chosen = deciding(records, verdicts, "lgbm")

    want = [days[0], days[2], days[3], days[4], days[6]]  # 4h pass, ETH's only day, newest 1h pass, fit A's newest, fit B's newest
    assert [p.day for p in chosen] == want
    assert [p.symbol for p in chosen] == ["BTC-USDT", "ETH-USDT", "BTC-USDT", "BTC-USDT", "BTC-USDT"]
    assert deciding(records, verdicts, "lgbm_no_text") != chosen, "the served family decides which passes count"
