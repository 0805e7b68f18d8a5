"""Backtest-paper parity: the paper replay's ledger PnL over a day equals the reference
strategy's after-cost PnL (oos_eval's code, ``oos.evaluate_day``) for the same champion, day
and cost.

Like for like: one horizon (1h, weight 1), risk budget 1 and fixed capital C, so the replay
holds ``position_1h * C`` of notional, as the reference's unit position times C; the paper
venue charges fee + slippage of half the round-trip cost per side, as the reference charges
cost/2 per unit of change; no partial fills, no minimum change; the last decision is marked
an hour later, where its label ends.

Tolerance, and why: the reference compounds nothing and books ``position * log return``; the
ledger books ``quantity * price change`` and fills at the next bar's open (slippage added),
not at the decision bar's close. The gaps are second order: per decision about
``|position| * (r^2 / 2 + |open - close| / close)`` of C, and the cost on the drift of a
held notional. The test bounds the difference by that sum computed from the day's bars
(plus 1e-6 C), and also by 2% of the day's gross reference PnL magnitude.
"""

from datetime import datetime, timedelta, timezone

import polars as pl

from quant_assets.evaluation import oos
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets_tests import modelkit
from quant_assets_tests.serving import tradekit
from quant_assets_tests.serving.conftest import SERVED
from serving.ledger import Ledger
from serving.replay import replay_trader

UTC = timezone.utc
DAY = SERVED[1]
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
C = 100_000.0
COST_BPS = 2.0  # low enough that the fast test model's 1h predictions trade


def test_paper_replay_pnl_equals_the_reference_strategy(home, monkeypatch, tmp_path):
    for name, value in {
        "QUANT_ASSETS_ROUND_TRIP_COST_BPS": str(COST_BPS),
        "QUANT_ASSETS_PAPER_FEE_BPS": str(COST_BPS / 4),
        "QUANT_ASSETS_PAPER_SLIPPAGE_BPS": str(COST_BPS / 4),
        "QUANT_ASSETS_PAPER_MAX_VOLUME_SHARE": "1",
        "QUANT_ASSETS_SERVING_HORIZON_WEIGHTS": "1h=1",
        "QUANT_ASSETS_SERVING_RISK_BUDGET": "1",
        "QUANT_ASSETS_SERVING_MIN_CHANGE": "0",
        "QUANT_ASSETS_SERVING_CAPITAL": str(C),
        "QUANT_ASSETS_RISK_MAX_POSITION": "1",
        "QUANT_ASSETS_RISK_MAX_DAILY_LOSS": "1",
        "QUANT_ASSETS_RISK_MAX_DRAWDOWN": "1",
        "QUANT_ASSETS_RISK_MAX_CONSECUTIVE_LOSSES": "100000",
    }.items():
        monkeypatch.setenv(name, value)
    version = tradekit.crown(home, -1)  # the 11-10 fit: the model oos_eval used for the day
    ledger = Ledger.open(f"sqlite:///{tmp_path}/replay.sqlite3")
    replay = replay_trader(ledger, [modelkit.SYMBOL])
    halts = []
    ticks = replay.run(START, START + timedelta(days=1), on_tick=lambda r: halts.extend(r.data_halts.items()))
    assert ticks == 288 and halts == []

    store = ParquetLake(str(home / "lake"))
    part = DaySymbol(DAY, modelkit.SYMBOL)
    features = store.read(FEATURES_ASSET, part).sort("t")
    champion = replay.trader.models.resolve([modelkit.SYMBOL], ["1h"])[modelkit.SYMBOL, "1h"]
    assert champion.version == version
    rows = oos.evaluate_day(features, store.read(LABELS_ASSET, part), champion.model.predict(features),
                            oos.Fit(champion.model_uri, START), cost=COST_BPS / 1e4)  # fmt: skip
    ref = rows.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "1h") & pl.col("evaluable"))
    assert ref.height == 24 and (ref["trade_size"] > 0).sum() >= 5  # the day really trades
    expected = C * ref["pnl"].sum()

    # the ledger: decisions are the reference's, one per 1h grid instant
    decided = {r["t"]: r["position"] for r in ledger.signals("paper", "replay")}
    assert decided == dict(zip(ref["t"], ref["position"]))
    bars = pl.concat([store.read(BARS_ASSET, DaySymbol(d, modelkit.SYMBOL)) for d in (DAY, DAY + timedelta(days=1))]).sort("ts")
    mark = bars.filter(pl.col("available_at") == START + timedelta(days=1, hours=1))["close"][0]
    (cash,) = ledger.cash("paper", "replay")
    (position,) = ledger.positions("paper", "replay")
    got = cash["balance"] + position["quantity"] * mark - C
    # sized only at decisions: every change of position is an order, plus the re-sizing of a held one
    orders = [o for o in ledger.orders("paper") if o["strategy"] == "replay"]
    assert (ref["trade_size"] > 0).sum() <= len(orders) <= ((ref["trade_size"] > 0) | (ref["position"] != 0)).sum()
    assert all(o["status"] == "filled" for o in orders)

    # the second-order bound from the day's own bars
    close = dict(zip(bars["available_at"], bars["close"]))
    open_ = dict(zip(bars["ts"], bars["open"]))
    bound = 1e-6 * C + C * sum(
        abs(p) * (lab * lab / 2 + abs(open_[t] - close[t]) / close[t] + abs(lab) * COST_BPS / 1e4)
        for t, p, lab in zip(ref["t"], ref["position"], ref["label"])
    )
    print(f"parity: ledger {got:.4f} reference {expected:.4f} bound {bound:.4f}")
    assert abs(got - expected) <= bound, (got, expected, bound)
    assert abs(got - expected) <= 0.02 * C * ref["pnl"].abs().sum() + 1e-6 * C, (got, expected)
