"""Venue faults: when an order was last sent, and until when the venue asked us to back off.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``orders.sent_at``: set (compare-and-set) just before each send. A lookup's "no such order" is
definite only once the venue's recvWindow has passed since then (a request still in flight may
arrive until that moment), and two runs racing for one order cannot both send it.
``risk_events.until``: a 429's Retry-After or a 418 ban's end; no request goes out before it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime))
    with op.batch_alter_table("risk_events") as batch:
        batch.add_column(sa.Column("until", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("risk_events") as batch:
        batch.drop_column("until")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("sent_at")
