"""The report's frames from planted oos_eval rows (the gate tests' planted days): the universe
is the equal-weight mean of the symbols' daily PnL, ablations never get an equity curve, the
portfolio is told apart from models and baselines, and a study key round-trips or is refused
in one line."""

from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.evaluation import metrics
from quant_assets.report import frames
from quant_assets_tests.evaluation.planted_oos_days import planted_day

DAYS = [date(2025, 11, 3) + timedelta(days=i) for i in range(3)]


def _rows(symbols=("BTC-USDT", "ETH-USDT")) -> pl.DataFrame:
    out = []
    for i, symbol in enumerate(symbols):
        for day in DAYS:
            day_rows = planted_day(day, {("lgbm", "4h"): 0.3 + 0.2 * i}, 0.05)
            ablation = day_rows.filter(pl.col("family") == "lgbm").with_columns(family=pl.lit("lgbm_no_text"))
            portfolio = day_rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "1h")).with_columns(family=pl.lit("portfolio"))
            out.append(pl.concat([day_rows, ablation, portfolio]).with_columns(symbol=pl.lit(symbol)))
    return pl.concat(out)


def test_universe_equity_is_the_cumulative_mean_of_the_symbols_daily_pnl():
    rows = _rows()
    equity = frames.equity_curves(frames.daily_series_pnl(rows))
    per_symbol = {
        s: metrics.daily_pnl(rows.filter((pl.col("symbol") == s) & (pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")))["pnl"].to_numpy()
        for s in ("BTC-USDT", "ETH-USDT")
    }
    for s, daily in per_symbol.items():
        got = equity.filter((pl.col("scope") == s) & (pl.col("series") == "lgbm 4h"))["equity"].to_numpy()
        assert got == pytest.approx(daily.cumsum())
    universe = equity.filter((pl.col("scope") == frames.UNIVERSE) & (pl.col("series") == "lgbm 4h"))["equity"].to_numpy()
    assert universe == pytest.approx(((per_symbol["BTC-USDT"] + per_symbol["ETH-USDT"]) / 2).cumsum())


def test_ablations_get_no_equity_and_the_portfolio_is_its_own_kind():
    equity = frames.equity_curves(frames.daily_series_pnl(_rows()))
    assert not equity.filter(pl.col("series").str.starts_with("lgbm_no_text")).height
    kinds = dict(equity.select("series", "kind").unique().iter_rows())
    assert kinds["portfolio 1h"] == "portfolio" and kinds["flat 4h"] == "baseline" and kinds["mhnet 1d"] == "model"
    # ablations and the portfolio are not models whose predictions are scored either
    assert set(frames.rolling_rank_ic(_rows())["series"].str.split(" ").list.first()) == {"lgbm", "mhnet"}


def test_rank_ic_and_calibration_see_the_planted_skill():
    rows = _rows()
    ic = frames.rolling_rank_ic(rows).filter(pl.col("scope") == "ETH-USDT")
    good = ic.filter(pl.col("series") == "lgbm 4h")["rank_ic"].mean()
    noise = ic.filter(pl.col("series") == "lgbm 1d")["rank_ic"].mean()
    assert good > noise + 0.2
    calib = frames.calibration(rows).filter((pl.col("scope") == frames.UNIVERSE) & (pl.col("series") == "lgbm 4h"))
    assert calib.height == metrics.CALIBRATION_BUCKETS
    assert calib["realised"][-1] > calib["realised"][0]  # the skilled series' top bucket realises more than its bottom


def test_a_study_key_round_trips_and_a_bad_one_is_one_line():
    study = frames.Study(date(2025, 6, 1), date(2025, 11, 30), ("BTC-USDT", "ETH-USDT"))
    assert frames.Study.from_key(study.key) == study and "..." not in study.key
    with pytest.raises(ValueError, match="study key 'nonsense'"):
        frames.Study.from_key("nonsense")
    with pytest.raises(ValueError, match="end is before the start"):
        frames.Study.from_key("2025-11-30_2025-06-01_BTC-USDT")


def test_the_pooled_comparison_names_the_family_with_the_planted_skill():
    from quant_assets.report import page, pooled

    out = []
    for i, symbol in enumerate(("BTC-USDT", "ETH-USDT")):
        for day in DAYS + [DAYS[-1] + timedelta(days=k) for k in range(1, 6)]:
            rows = planted_day(day, {("lgbm_pooled", "4h"): 0.6, ("lgbm", "1h"): 0.6}, 0.0, families=("lgbm", "lgbm_pooled"))
            out.append(rows.with_columns(symbol=pl.lit(symbol)))
    rows = pl.concat(out)
    daily = frames.daily_series_pnl(rows)
    table = pooled.comparison(frames.rolling_rank_ic(rows), daily, ["1h", "4h", "1d"])
    winners = dict(table.select("horizon", "winner").iter_rows())
    assert winners["4h"] == "lgbm_pooled" and winners["1h"] == "lgbm"
    four = table.filter(pl.col("horizon") == "4h").row(0, named=True)
    assert four["lgbm_pooled_rank_ic"] > four["lgbm_rank_ic"] + 0.2 and four["days"] == 8
    said = pooled.sentence(table)
    assert "better on 4h" in said and "worse on 1h" in said
    # the page shows the table and the sentence, and a figure of it
    html = page.frame_table(table) + page.pooled_figure(table).to_html(full_html=False, include_plotlyjs=False)
    assert "lgbm_pooled_sharpe" in html and html.count("<tr>") == table.height + 1  # the header, then a row per horizon
