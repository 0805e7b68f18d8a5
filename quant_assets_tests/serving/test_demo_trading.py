"""The demo's trading step: the demo script (a person's tool) promotes where no verdict passed,
with --force and its stated reason, then paper-replays the last served days on the champions."""

import time

import click

from quant_assets.cli.demo import _paper_replay, demo
from quant_assets.cli.demo_trading import DEMO_REASON, crown_for_demo
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.registry.aliases import PROMOTED_FORCED_TAG, PROMOTED_REASON_TAG
from quant_assets.registry.names import registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests import fitted_models
from quant_assets_tests.serving.conftest import SERVED
from serving.ledger import Ledger


def test_the_demo_forces_champions_saying_so_then_replays_its_last_day(home, monkeypatch, capsys):
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", fitted_models.SYMBOL)
    lines = []
    assert crown_for_demo([fitted_models.SYMBOL], echo=lines.append) == len(HORIZON_NAMES)
    assert all("FORCED promotion done by the demo script" in line and DEMO_REASON in line for line in lines)
    client = Tracking(MlflowStore.from_env()).client
    for h in HORIZON_NAMES:
        champion = client.get_model_version_by_alias(registered_name(fitted_models.SYMBOL, h), "champion")
        assert champion.tags[PROMOTED_FORCED_TAG] == "true" and champion.tags[PROMOTED_REASON_TAG] == DEMO_REASON
    assert crown_for_demo([fitted_models.SYMBOL], echo=lines.append) == 0  # a champion, once set, is kept

    with click.Context(demo):
        _paper_replay(fitted_models.parts(*SERVED), 1, time.perf_counter())
    out = capsys.readouterr().out
    assert "replayed 286 ticks 2025-11-10 00:00 .. 2025-11-10 23:50" in out and "live sensor stays STOPPED" in out
    assert "trading_book 2025-11-10: the replay's PnL" in out  # the day's book, materialized
    assert Ledger.open().journal.signals("paper", "replay")  # the champions decided
