"""Exchange keys come from the environment only and appear nowhere else: not in the ledger,
logs, stdout/stderr, exception messages or CLI output, even when the venue echoes them back."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from quant_assets_tests.recorded_exchange import fixture, http_error
from quant_assets_tests.serving.trading_fixtures import BAR_T, BTC_1205_OPEN, FAKE, LIVE, LOOSE, binance_live, echo_client_id, order
from serving.execution.batch import run_batch
from serving.execution.live import LiveExecutionError
from serving.settings import exchange_account


def test_a_live_run_leaves_the_keys_in_no_artefact(tmp_path, monkeypatch, caplog, capfd):
    from quant_assets.cli import main
    from serving.ledger import Ledger

    db = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", f"sqlite:///{db}")
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_KEY", FAKE.api_key)
    monkeypatch.setenv("QUANT_ASSETS_EXCHANGE_API_SECRET", FAKE.secret)
    caplog.set_level(logging.DEBUG)
    account = exchange_account()
    credentials = account.process_config_and_initialize().credentials()  # as Dagster resolves it for a run
    assert credentials == FAKE and FAKE.api_key not in repr(credentials) + str(credentials)

    ledger = Ledger.open()
    ledger.journal.set_live_enabled(True, "ana", "leak test")
    adapter, recorded = binance_live(credentials)
    assert adapter.exchange.apiKey == FAKE.api_key, "the canary key must really be in use"
    # A venue that echoes the key in its errors (planted): the messages must still not carry it.
    echoed = {"code": -2010, "msg": f"Order rejected for key {FAKE.api_key} / {FAKE.secret}"}
    refused = {"code": -2015, "msg": f"Invalid API-key, IP, or permissions for action. apiKey={FAKE.api_key}"}
    recorded.route("/api/v3/order", echo_client_id(fixture("binance", "api_v3_order_market_buy_full.json")), when={"symbol": "BTCUSDT"})
    recorded.route("/api/v3/order", http_error(400, echoed), http_error(401, refused), when={"symbol": "ETHUSDT"})
    marks = {"BTC/USDT": BTC_1205_OPEN, "ETH/USDT": 4300.0}

    run_batch(ledger, adapter, LIVE, BAR_T, [order(mode="live")], marks, LOOSE, keys_present=True)
    later = BAR_T + timedelta(minutes=5)
    result = run_batch(
        ledger, adapter, LIVE, later, [order(mode="live", symbol="ETH/USDT", quantity=0.1, bar=later, price=4300.0)], marks, LOOSE, keys_present=True
    )
    (rejected,) = result.updates
    assert rejected.reason_code == "EXCHANGE_REJECTED" and "<redacted>" in rejected.reason
    last = later + timedelta(minutes=5)
    with pytest.raises(LiveExecutionError) as failure:
        run_batch(
            ledger,
            adapter,
            LIVE,
            last,
            [order(mode="live", symbol="ETH/USDT", quantity=0.1, bar=last, price=4300.0)],
            marks,
            LOOSE,
            keys_present=True,
        )
    assert "-2015" in str(failure.value) and "<redacted>" in str(failure.value)
    logging.getLogger("serving").error("batch failed: %s", failure.value)  # what a sensor would log
    runner = CliRunner()
    cli_output = "".join(runner.invoke(main, cmd).output for cmd in (["orders"], ["positions"], ["trading", "status"]))
    assert "EXCHANGE_REJECTED" in cli_output and "FILLED" in cli_output.upper()
    ledger.close()

    out, err = capfd.readouterr()
    with sqlite3.connect(db) as con:
        dump = "\n".join(con.iterdump())
    raw = b"".join(p.read_bytes() for p in Path(tmp_path).glob("ledger.sqlite3*"))
    artefacts = {
        "ledger dump": dump,
        "ledger file": raw.decode("latin-1"),
        "logs": caplog.text,
        "stdout": out,
        "stderr": err,
        "exception": f"{failure.value!r} {failure.value}",
        "cli": cli_output,
        "ledger rows": repr([ledger.bookkeeping.orders(), ledger.journal.risk_events()]),
    }
    for name, text in artefacts.items():
        for secret in (FAKE.api_key, FAKE.secret, "LEAKCANARY"):
            assert secret not in text, f"{secret[:12]}... leaked into the {name}"
    assert "Order rejected for key <redacted>" in dump, "the venue's reason is kept, the key cut out"


def test_a_bad_ledger_url_is_named_with_its_password_hidden(monkeypatch):
    from quant_assets.settings import SettingsError
    from serving.settings import ledger_url

    monkeypatch.setenv("QUANT_ASSETS_LEDGER_URL", "mysql://trader:QAPLANTEDPW-LEAKCANARY@db:3306/ledger")
    with pytest.raises(SettingsError) as bad:
        ledger_url()
    message = str(bad.value)
    assert "QUANT_ASSETS_LEDGER_URL='mysql://trader:***@db:3306/ledger'" in message and "\n" not in message
    assert "LEAKCANARY" not in message
