"""Signals: each horizon's decision per symbol and decision time, the position it holds.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-24

The reference strategy decides a horizon only on its own grid and holds that decision until
the next one; the held decision is the newest row here. It is also the audit trail of what
the champion predicted and why the book moved.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("strategy", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),  # lake key, e.g. BTC-USDT
        sa.Column("horizon", sa.String(8), nullable=False),
        sa.Column("t", sa.DateTime, nullable=False),  # decision time: the close of the newest closed bar
        sa.Column("model_uri", sa.String(200), nullable=False),  # models:/<name>/<version>
        sa.Column("prediction", sa.Float, nullable=False),
        sa.Column("cost", sa.Float, nullable=False),
        sa.Column("vol", sa.Float, nullable=False),
        sa.Column("edge", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("position", sa.Float, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        # A tick run twice for the same bar decides once.
        sa.UniqueConstraint("mode", "strategy", "symbol", "horizon", "t", name="signals_once"),
    )


def downgrade() -> None:
    op.drop_table("signals")
