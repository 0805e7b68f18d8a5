"""Backtest-paper parity over a week: the paper replay's ledger PnL equals the ``portfolio``
series' after-cost PnL (oos_eval's code: ``oos.evaluate_day`` day after day, each day opening
with the previous day's closing positions) for the same champion, days, weights and cost.

Like for like: every horizon weighted (the default 0.25 each), risk budget 1, caps that do not
bind, no minimum change and fixed capital C, so the replay holds ``portfolio position * C`` of
notional; the paper venue charges fee + slippage of half the round-trip cost per side, as the
book charges cost/2 per unit of change; no partial fills; the last decision is marked an hour
later, where its (1h) label ends. Seven days, so every horizon's position is carried over
midnight (the 7d one decided on Thursday is held to the end) in the ledger and in the book.

Tolerance, and why (term by term, per 1h decision k, with p_k the book's position, l_k its 1h
log return, P_k the decision bar's close, O_k the next bar's open where the order fills,
d_k = |O_k - P_k| / P_k, g_k = exp(|l_k|) - 1, c the round-trip cost):

- the book books p_k * l_k; the ledger holds q_k = C p_k / P_k and books q_k (P_k+1 - P_k) =
  C p_k (exp(l_k) - 1): a gap of at most C |p_k| (g_k - |l_k|) (about l^2 / 2);
- the ledger's order at k re-sizes a held quantity whose notional drifted: its size is
  C (|p_k - p_k-1| + |p_k-1| g_k-1) at most, where the book's is C |p_k - p_k-1|; the drift
  pays c/2 per unit (C |p_k-1| g_k-1 c/2), and the whole order fills at O_k, not P_k
  (C (|p_k - p_k-1| + |p_k-1| g_k-1)(1 + c/2) d_k).

The sum of these over the week (plus 1e-6 C) bounds the difference; nothing in it grows with
the number of days other than by adding terms, so a week's bound is the sum of its days'.
The test also bounds it by 2% of the book's gross PnL magnitude. (Sizing against fixed
capital: a sizing against the ledger's equity would add C |E_k / C - 1| |p_k| |l_k| per
decision.)
"""

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from quant_assets.evaluation import oos, portfolio
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.timegrid import BAR
from quant_assets_tests import fitted_models
from quant_assets_tests.serving import served_trader
from quant_assets_tests.serving.conftest import SERVED
from serving.ledger import Ledger
from serving.replay import replay_trader

UTC = timezone.utc
DAYS = days_between(SERVED[1] - timedelta(days=6), SERVED[1])  # a week ending on the champion's own day
START = datetime.combine(DAYS[0], datetime.min.time(), tzinfo=UTC)
END = START + timedelta(days=len(DAYS))
C = 100_000.0
COST_BPS = 2.0  # low enough that the fast test model's predictions trade on every horizon
HOUR = timedelta(hours=1)


def _book(store: ParquetLake, model, uri: str, rules: portfolio.Rules) -> pl.DataFrame:
    """The week's oos_eval rows for the champion: one book, each day opening with the day before's close."""
    frames, carry = [], {}
    for day in DAYS:
        part = DaySymbol(day, fitted_models.SYMBOL)
        features = store.read(FEATURES_ASSET, part).sort("t")
        rows = oos.evaluate_day(features, store.read(LABELS_ASSET, part), model.predict(features), oos.Fit(uri, START),
                                cost=COST_BPS / 1e4, carry=carry, rules=rules)  # fmt: skip
        carry = oos.closing_positions(rows)
        frames.append(rows)
    return pl.concat(frames).sort("t")


def test_a_week_of_paper_replay_pnl_equals_the_portfolio_book(home, monkeypatch, tmp_path):
    for name, value in {
        "QUANT_ASSETS_ROUND_TRIP_COST_BPS": str(COST_BPS),
        "QUANT_ASSETS_PAPER_FEE_BPS": str(COST_BPS / 4),
        "QUANT_ASSETS_PAPER_SLIPPAGE_BPS": str(COST_BPS / 4),
        "QUANT_ASSETS_PAPER_MAX_VOLUME_SHARE": "1",
        "QUANT_ASSETS_SERVING_HORIZON_WEIGHTS": "1h=0.25,4h=0.25,1d=0.25,7d=0.25",
        "QUANT_ASSETS_SERVING_RISK_BUDGET": "1",
        "QUANT_ASSETS_SERVING_MIN_CHANGE": "0",
        "QUANT_ASSETS_SERVING_CAPITAL": str(C),
        "QUANT_ASSETS_RISK_MAX_POSITION": "1",
        "QUANT_ASSETS_RISK_MAX_DAILY_LOSS": "1",
        "QUANT_ASSETS_RISK_MAX_DRAWDOWN": "1",
        "QUANT_ASSETS_RISK_MAX_CONSECUTIVE_LOSSES": "100000",
    }.items():
        monkeypatch.setenv(name, value)
    version = served_trader.crown(home, -1)  # the 11-10 fit, held fixed over the week
    ledger = Ledger.open(f"sqlite:///{tmp_path}/replay.sqlite3")
    replay = replay_trader(ledger, [fitted_models.SYMBOL])
    halts = []
    ticks = replay.run(START, END, on_tick=lambda r: halts.extend(r.data_halts.items()))
    assert ticks == 288 * len(DAYS) and halts == []

    store = ParquetLake(str(home / "lake"))
    champion = replay.trader.models.resolve([fitted_models.SYMBOL], ["1h"])[fitted_models.SYMBOL, "1h"]
    assert champion.version == version
    rules = portfolio.Rules.from_env()
    assert rules.family == "lgbm" and rules.horizons == list(HORIZON_NAMES)
    rows = _book(store, champion.model, champion.model_uri, rules)
    book = rows.filter(pl.col("family") == "portfolio")
    assert book["horizon"].unique().to_list() == ["1h"] and (book["t"].min(), book["t"].max()) == (START + BAR, END)

    # the ledger's decisions are the book's, on every horizon; and every horizon holds a position over midnight
    lgbm = rows.filter(pl.col("family") == "lgbm")
    signals = ledger.journal.signals("paper", "replay")
    midnights = [START + timedelta(days=i) for i in range(1, len(DAYS))]
    for h in HORIZON_NAMES:
        series = lgbm.filter(pl.col("horizon") == h)
        decided = {r["t"]: r["position"] for r in signals if r["horizon"] == h}
        assert decided == dict(series.filter(pl.col("t").is_in(list(decided))).select("t", "position").iter_rows())
        held = series.filter(pl.col("t").is_in(midnights))["position"]
        after = series.filter(pl.col("t").is_in([m + BAR for m in midnights]))
        assert (held != 0).any(), f"{h}: no position carried over any midnight"
        assert after["position"].to_list() == held.to_list() and (after["trade_size"] == 0).all()  # carried, not re-entered
    assert (book.filter(pl.col("t").is_in(midnights))["position"] != 0).all()  # the book is open over every midnight

    evaluable = book.filter(pl.col("evaluable"))
    assert evaluable.height == 24 * len(DAYS) and (evaluable["trade_size"] > 0).sum() >= 24  # the week really trades
    expected = C * evaluable["pnl"].sum()
    bars = pl.concat([store.read(BARS_ASSET, DaySymbol(d, fitted_models.SYMBOL)) for d in [*DAYS, END.date()]]).sort("ts")
    mark = bars.filter(pl.col("available_at") == END + HOUR)["close"][0]
    (cash,) = ledger.bookkeeping.cash("paper", "replay")
    (position,) = ledger.bookkeeping.positions("paper", "replay")
    got = cash["balance"] + position["quantity"] * mark - C
    orders = [o for o in ledger.bookkeeping.orders("paper") if o["strategy"] == "replay"]
    assert all(o["status"] == "filled" for o in orders)
    assert (evaluable["trade_size"] > 0).sum() <= len(orders) <= evaluable.height  # sized only at decisions, hourly at most

    # the bound, term by term from the week's own bars (see the module docstring)
    close = dict(zip(bars["available_at"], bars["close"]))
    open_ = dict(zip(bars["ts"], bars["open"]))
    p = evaluable["position"].to_numpy()
    change = evaluable["trade_size"].to_numpy()
    g = np.expm1(np.abs(evaluable["label"].to_numpy()))
    g_before, p_before = np.concatenate([[0.0], g[:-1]]), np.concatenate([[0.0], p[:-1]])
    d = np.array([abs(open_[t] - close[t]) / close[t] for t in evaluable["t"]])
    half = COST_BPS / 1e4 / 2
    order = change + np.abs(p_before) * g_before
    bound = 1e-6 * C + C * float(np.sum(np.abs(p) * (g - np.abs(evaluable["label"].to_numpy())) + order * (1 + half) * d
                                        + half * np.abs(p_before) * g_before))  # fmt: skip
    print(f"parity over {len(DAYS)} days: ledger {got:.4f} book {expected:.4f} difference {got - expected:.4f} bound {bound:.4f}")
    assert abs(got - expected) <= bound, (got, expected, bound)
    assert abs(got - expected) <= 0.02 * C * evaluable["pnl"].abs().sum() + 1e-6 * C, (got, expected)
