"""The one execution interface both adapters implement.

``place`` sends orders and reports what the venue said; ``sync`` asks again about orders
that are not final (fills that came later, or an order whose placement outcome a crash hid).
Both must be idempotent by client order id: placing an order the venue already has returns
that order, never a second one. The paper and live trading paths differ only in the adapter.
"""

from __future__ import annotations

from typing import Protocol

from serving.records import OrderRequest, OrderUpdate


class ExecutionAdapter(Protocol):
    mode: str  # "paper" or "live"

    def place(self, orders: list[OrderRequest]) -> list[OrderUpdate]: ...

    def sync(self, orders: list[OrderRequest], exchange_order_ids: dict[str, str]) -> list[OrderUpdate]: ...
