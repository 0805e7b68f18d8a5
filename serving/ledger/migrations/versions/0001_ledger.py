"""The first ledger: orders, fills, positions, cash, equity marks, risk events, the kill
switch and live-trading enablement.

Revision ID: 0001
Revises:
Create Date: 2025-11-20

Times are naive UTC (SQLite has no time zones; the ledger converts at its boundary).
Amounts are double precision: the ledger records what the exchange reported, it does not
do exchange arithmetic (precision is the exchange's, via ccxt).
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        # Derived from (mode, strategy, symbol, decision bar): the idempotency key.
        sa.Column("client_order_id", sa.String(36), nullable=False, unique=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("decision_bar", sa.DateTime, nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("reference_price", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filled_quantity", sa.Float, nullable=False, server_default="0"),
        sa.Column("exchange_order_id", sa.String(64)),
        sa.Column("reason_code", sa.String(32)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("orders_by_book", "orders", ["mode", "strategy", "symbol"])
    op.create_table(
        "fills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_order_id", sa.String(36), sa.ForeignKey("orders.client_order_id"), nullable=False),
        sa.Column("fill_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime, nullable=False),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("price", sa.Float, nullable=False),
        sa.Column("fee", sa.Float, nullable=False),
        sa.Column("fee_currency", sa.String(16), nullable=False),
        # Net of this fill's fee, for fills that close (part of) a position; NULL for fills
        # that only open or extend one. The consecutive-losses check counts these.
        sa.Column("realized_pnl", sa.Float),
        sa.UniqueConstraint("client_order_id", "fill_id", name="fills_once"),
    )
    op.create_table(
        "positions",
        sa.Column("mode", sa.String(8), primary_key=True),
        sa.Column("strategy", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("quantity", sa.Float, nullable=False),
        sa.Column("avg_price", sa.Float, nullable=False),
        sa.Column("realized_pnl", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "cash",
        sa.Column("mode", sa.String(8), primary_key=True),
        sa.Column("strategy", sa.String(64), primary_key=True),
        sa.Column("currency", sa.String(16), nullable=False),
        sa.Column("starting", sa.Float, nullable=False),
        sa.Column("balance", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "equity_marks",
        sa.Column("mode", sa.String(8), primary_key=True),
        sa.Column("strategy", sa.String(64), primary_key=True),
        sa.Column("ts", sa.DateTime, primary_key=True),
        sa.Column("equity", sa.Float, nullable=False),
    )
    op.create_table(
        "risk_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("decision_bar", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),  # halt (the batch) or refusal (one order)
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),  # "" for a halt of the whole batch
        sa.Column("detail", sa.Text, nullable=False),
        # A tick run twice for the same bar records its halt once.
        sa.UniqueConstraint("mode", "strategy", "decision_bar", "code", "symbol", name="risk_events_once"),
    )
    for name, flag in (("kill_switch_events", "active"), ("live_enablement_events", "enabled")):
        # Append-only: the newest row is the state, the rest is who did what when.
        op.create_table(
            name,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("recorded_at", sa.DateTime, nullable=False),
            sa.Column(flag, sa.Boolean, nullable=False),
            sa.Column("by", sa.String(128), nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
        )


def downgrade() -> None:
    for name in ("live_enablement_events", "kill_switch_events", "risk_events", "equity_marks", "cash", "positions", "fills", "orders"):
        op.drop_table(name)
