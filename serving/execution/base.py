"""The one execution interface both adapters implement.

``place`` sends orders and reports what the venue said; ``lookup`` asks the venue about orders
by client order id (fills that came later, or an order whose placement outcome a crash, a
timeout or a 5xx hid). Neither raises for a venue fault: each returns a ``VenueReport`` with an
update per order it settled and, when it stopped early, why (``VenueStop``). An order the
adapter did not settle stays ``new`` in the ledger, and ``run_batch`` looks it up before it may
be sent again: nothing is ever re-sent blind. The paper and live trading paths differ only in
the adapter.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from serving.records import OrderRequest, VenueReport


class VenueError(RuntimeError):
    """The venue refused us in a way a person must look at (keys, permissions); ``run_batch``
    raises it after booking everything that was settled."""


class ExecutionAdapter(Protocol):
    mode: str  # "paper" or "live"
    # How long after a send a lookup's "no such order" is definite: a request still in flight
    # may arrive until then (a venue drops a signed request older than its receive window).
    settle_after: timedelta

    def place(self, orders: list[OrderRequest]) -> VenueReport: ...

    def lookup(self, orders: list[OrderRequest], exchange_order_ids: dict[str, str]) -> VenueReport: ...
