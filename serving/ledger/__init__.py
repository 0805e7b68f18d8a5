"""The durable, idempotent trading ledger (SQLite under the home, or PostgreSQL)."""

from serving.ledger.bookkeeping import Bookkeeping
from serving.ledger.journal import Journal, Switch
from serving.ledger.store import Ledger

__all__ = ["Bookkeeping", "Journal", "Ledger", "Switch"]
