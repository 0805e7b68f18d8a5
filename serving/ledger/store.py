"""The trading ledger: one migrated database (``serving.ledger.engine``), read and written by
two parts, each with one job:

- ``ledger.bookkeeping`` (:class:`~serving.ledger.bookkeeping.Bookkeeping`): orders, fills,
  positions, cash and equity marks, the money;
- ``ledger.journal`` (:class:`~serving.ledger.journal.Journal`): the decisions (signals), the
  halts and refusals with their reason codes, the kill switch and live enablement.

A caller that needs only one part takes that part; the tick, the order batch and the reports
that read both take the ledger.
"""

from __future__ import annotations

from serving.ledger.bookkeeping import Bookkeeping
from serving.ledger.engine import Database
from serving.ledger.journal import Journal


class Ledger:
    def __init__(self, db: Database):
        self.db = db
        self.engine, self.t = db.engine, db.t  # for reports that query the tables directly
        self.bookkeeping = Bookkeeping(db)
        self.journal = Journal(db)

    @classmethod
    def open(cls, url: str | None = None) -> "Ledger":
        """The ledger at ``url`` (default: ``serving.settings.ledger_url()``), migrated to head."""
        return cls(Database.open(url))

    def close(self) -> None:
        self.db.close()
