"""The durable, idempotent trading ledger (SQLite under the home, or PostgreSQL)."""

from serving.ledger.store import Ledger, Switch

__all__ = ["Ledger", "Switch"]
