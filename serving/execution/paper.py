"""Paper execution: a market order fills at the open of the bar after its decision bar.

The price moves against the order by the slippage, the fee is charged in the quote currency,
and no more than ``max_volume_share`` of that bar's volume fills; the rest expires (status
``partial``), as an immediate-or-cancel order would. Everything is a function of the
recorded bars, so placing or syncing the same order again gives the same fills with the same
ids: the paper venue needs no state of its own to be idempotent. Every order recorded counts as
at the paper venue (a lookup never answers "not at the venue"), and it never fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from serving.records import FILLED, OPEN, PARTIAL, REJECTED, Fill, OrderRequest, OrderUpdate, VenueReport
from serving.settings import PaperCosts

BAR = timedelta(minutes=5)


@dataclass(frozen=True)
class Bar:
    open: float
    volume: float


# (symbol, bar open time) -> that bar, or None while it has not closed yet.
BarLookup = Callable[[str, datetime], Bar | None]


class PaperAdapter:
    mode = "paper"
    settle_after = timedelta(0)

    def __init__(self, bars: BarLookup, costs: PaperCosts):
        self.bars = bars
        self.costs = costs

    def place(self, orders: list[OrderRequest]) -> VenueReport:
        return VenueReport([self._fill(o) for o in orders])

    def lookup(self, orders: list[OrderRequest], exchange_order_ids: dict[str, str]) -> VenueReport:
        return VenueReport([self._fill(o) for o in orders])

    def _fill(self, order: OrderRequest) -> OrderUpdate:
        cid = order.client_order_id
        at = order.decision_bar + BAR  # the decision bar closes here; the next one opens
        bar = self.bars(order.symbol, at)
        if bar is None:
            return OrderUpdate(cid, OPEN, exchange_order_id=cid)  # waits for the next bar
        if bar.volume <= 0:
            return OrderUpdate(cid, REJECTED, cid, reason_code="NO_VOLUME", reason=f"no volume in the {at:%Y-%m-%d %H:%M} bar")
        quantity = min(order.quantity, self.costs.max_volume_share * bar.volume)
        sign = 1 if order.side == "buy" else -1
        price = bar.open * (1 + sign * self.costs.slippage_bps / 1e4)
        fee = quantity * price * self.costs.fee_bps / 1e4
        quote = order.symbol.split("/")[1].split(":")[0]
        fill = Fill(f"{cid}-{at:%Y%m%d%H%M}", at, quantity, price, fee, quote)
        status = FILLED if quantity >= order.quantity else PARTIAL
        reason = (
            None if status == FILLED else f"{quantity:g} of {order.quantity:g} filled: capped at {self.costs.max_volume_share:g} of the bar's volume"
        )
        return OrderUpdate(cid, status, cid, (fill,), "VOLUME_CAP" if reason else None, reason)
