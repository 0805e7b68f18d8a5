"""The ledger: migrated by its own Alembic history, one row per client order id, each fill
booked once into positions and cash, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from quant_assets.settings import SettingsError
from quant_assets_tests.serving.trading_fixtures import BAR_T, NEXT_T, order
from serving.ledger import Ledger, migrate
from serving.records import FILLED, OPEN, Fill, OrderUpdate
from serving.settings import ledger_url

TABLES = {"orders", "fills", "positions", "cash", "equity_marks", "risk_events", "kill_switch_events", "live_enablement_events"}


def _exercise(ledger: Ledger) -> None:
    """Idempotent writes and bookkeeping; the same on every backend."""
    buy = order(quantity=0.01)
    row, created = ledger.bookkeeping.record_order(buy)
    again, created_again = ledger.bookkeeping.record_order(order(quantity=0.02))  # a retry that sized differently
    assert created and not created_again
    assert again["id"] == row["id"] and again["quantity"] == 0.01, "the first recording wins"
    assert len(ledger.bookkeeping.orders()) == 1

    ledger.bookkeeping.open_account("paper", "ref", "USDT", 10_000.0)
    ledger.bookkeeping.open_account("paper", "ref", "USDT", 99.0)  # a second open leaves the balance alone
    fill = Fill("t1", NEXT_T, 0.01, 100_000.0, 1.0, "USDT")
    assert ledger.bookkeeping.apply(OrderUpdate(buy.client_order_id, OPEN, "x1", (fill,))) == 1
    assert ledger.bookkeeping.apply(OrderUpdate(buy.client_order_id, FILLED, "x1", (fill,))) == 0, "a fill is booked once"
    (pos,) = ledger.bookkeeping.positions("paper")
    (cash,) = ledger.bookkeeping.cash("paper")
    assert pos["quantity"] == pytest.approx(0.01) and pos["avg_price"] == pytest.approx(100_000.0)
    assert cash["balance"] == pytest.approx(10_000.0 - 1_000.0 - 1.0)
    assert ledger.bookkeeping.order(buy.client_order_id)["status"] == FILLED

    # Closing at a loss: the fill's realised PnL is net of its fee, and counts as a loss.
    sell = order(side="sell", quantity=0.01, bar=BAR_T + timedelta(minutes=5))
    ledger.bookkeeping.record_order(sell)
    sold = Fill("t2", NEXT_T + timedelta(minutes=5), 0.01, 99_000.0, 0.99, "USDT")
    ledger.bookkeeping.apply(OrderUpdate(sell.client_order_id, FILLED, "x2", (sold,)))
    (pos,) = ledger.bookkeeping.positions("paper")
    assert pos["quantity"] == pytest.approx(0.0)
    assert ledger.bookkeeping.closing_pnls("paper", "ref") == [pytest.approx(-10.0 - 0.99)]
    assert ledger.bookkeeping.equity("paper", "ref", {"BTC/USDT": 1.0}) == pytest.approx(10_000.0 - 1.0 - 10.0 - 0.99)

    # A halt recorded twice for the same bar is one event; the kill switch keeps its history.
    assert ledger.journal.record_risk_event("paper", "ref", BAR_T, "halt", "KILL_SWITCH", "set")
    assert not ledger.journal.record_risk_event("paper", "ref", BAR_T, "halt", "KILL_SWITCH", "set")
    ledger.journal.set_kill_switch(True, "ana", "exchange incident")
    ledger.journal.set_kill_switch(False, "ben", "resolved")
    assert not ledger.journal.kill_switch().on and ledger.journal.kill_switch().by == "ben"
    assert [r["active"] for r in ledger.journal.switch_history("kill_switch_events")] == [True, False]


def test_sqlite_ledger_is_migrated_and_idempotent(ledger):
    assert TABLES <= set(ledger.t)
    assert migrate.current(ledger.engine) == migrate.head()
    _exercise(ledger)


def test_postgres_ledger_is_migrated_and_idempotent(pg_database):
    ledger = Ledger.open(pg_database)
    try:
        assert ledger.engine.dialect.name == "postgresql"
        assert TABLES <= set(ledger.t)
        # Its own version table, so a database shared with MLflow keeps both histories.
        assert "ledger_alembic_version" in sa.inspect(ledger.engine).get_table_names()
        assert "alembic_version" not in sa.inspect(ledger.engine).get_table_names()
        _exercise(ledger)
        reopened = Ledger.open(pg_database)  # already at head: nothing to do, data kept
        assert len(reopened.bookkeeping.orders()) == 2
        reopened.close()
    finally:
        ledger.close()


def test_opening_migrates_an_empty_or_older_database_and_keeps_data(tmp_path):
    url = f"sqlite:///{tmp_path}/l.sqlite3"
    ledger = Ledger.open(url)
    ledger.bookkeeping.record_order(order())
    ledger.close()
    again = Ledger.open(url)
    assert len(again.bookkeeping.orders()) == 1, "reopening a current ledger must not recreate it"
    # Back to before the first revision (what an older deployment would have): open upgrades.
    config = migrate._config()
    with again.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert migrate.current(again.engine) is None
    assert set(sa.inspect(again.engine).get_table_names()) == {"ledger_alembic_version"}
    again.close()
    assert TABLES <= set(Ledger.open(url).t)


def test_the_ledger_url_defaults_under_the_home_and_a_bad_one_is_one_line(qa_home, monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_LEDGER_URL", raising=False)
    assert ledger_url() == f"sqlite:///{qa_home}/ledger/ledger.sqlite3"
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", "mysql://x")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_LEDGER_URL='mysql://x' is not usable"):
        ledger_url()
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", "")
    monkeypatch.setenv("QUANT_ASSETS_HOME", "s3://bucket/qa")
    with pytest.raises(SettingsError, match="QUANT_ASSETS_LEDGER_URL is not set"):
        ledger_url()


def test_an_update_for_an_order_never_recorded_is_refused(ledger):
    with pytest.raises(KeyError, match="record it before placing it"):
        ledger.bookkeeping.apply(OrderUpdate("qap-unknown", FILLED))
