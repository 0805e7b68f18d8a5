"""A partition range materialized through the Celery executor, on the machine's real Redis
and on its RabbitMQ, by a ``quant-assets worker`` process, with the Dagster instance on
PostgreSQL; the lake it writes is byte for byte the lake the in-process executor writes for
the same range.

Redis, RabbitMQ and PostgreSQL run on every CI machine: where one is missing the test skips,
except in CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import pytest

from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, days_between
from quant_assets_tests.conftest import SPOT_FIXTURE
from quant_assets_tests.lakeseed import copy_bundle_assets
from quant_assets_tests.platform.processes import start_in_own_group, stop_group

SYMBOLS = ["BTC-USDT", "ETH-USDT"]
FIRST, LAST = date(2025, 10, 5), date(2025, 10, 7)  # the spot fixture's days
ASSETS = [BARS_ASSET, FEATURES_ASSET]
BROKERS = {
    "redis": "redis://127.0.0.1:6379/0",
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//",
}


def _broker_or_skip(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own connection errors
        if os.environ.get("CI"):
            pytest.fail(f"the broker must be reachable in CI ({url}): {exc}")
        pytest.skip(f"no broker at {url}")


def _home(root: Path, monkeypatch) -> Path:
    """A QUANT_ASSETS_HOME whose lake holds the bundle's bars and derivatives from the day
    before FIRST (features look back one day), bars coming in from a file drop."""
    home = root / "home"
    copy_bundle_assets(home / "lake", date(2025, 10, 4), LAST, SYMBOLS)
    drop = root / "drop"
    drop.mkdir(parents=True)
    shutil.copy(SPOT_FIXTURE, drop / "binance_spot_5m.parquet")
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(drop))
    monkeypatch.setenv("QUANT_ASSETS_DERIVATIVES_SOURCE", "bundle")
    return home


def _materialize(instance, progress=None):
    from quant_assets import settings
    from quant_assets.definitions import build_definitions
    from quant_assets.runs import materialize

    parts = [DaySymbol(d, s) for d in days_between(FIRST, LAST) for s in SYMBOLS]
    return materialize(build_definitions(), ASSETS, parts, settings.universe(), instance, progress=progress)


def _lake_hashes(home: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every published file of ASSETS in the range (the seeded
    day before it is left out: it is copied, not materialized)."""
    lake = home / "lake"
    days = {f"date={d.isoformat()}" for d in days_between(FIRST, LAST)}
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for asset in ASSETS
        for p in sorted((lake / asset).rglob("*.parquet"))
        if p.relative_to(lake).parts[1] in days
    }


def _wait_for_worker(proc, broker: str, node: str, log: Path, timeout_s: float = 120) -> None:
    """Until the worker answers a Celery ping on the broker; fail with its log if it dies."""
    from celery import Celery

    app = Celery(broker=broker)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}: {log.read_text()[-3000:]}")
        if app.control.ping(destination=[node], timeout=1.0):
            return
    pytest.fail(f"worker {node} did not answer within {timeout_s:.0f} s: {log.read_text()[-3000:]}")


RUN_TIMEOUT_S = 300


def _delete_queue(url: str, queue: str) -> None:
    """Leave the broker as it was: the test's queue and the exchange Celery declared for it."""
    from kombu import Connection

    with Connection(url, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(queue)
        conn.default_channel.exchange_delete(queue)
    if url.startswith("redis://"):
        # kombu keeps the exchange's bindings in keys of their own; the name is this test's only.
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)


def _within(timeout_s: float, launch, log: Path):
    """``launch()``, failing the test after ``timeout_s``: the Celery executor waits for its
    tasks forever, so a worker that never takes them must not hang the suite."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = launch()
        except BaseException as exc:  # handed to the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="celery-run", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        pytest.fail(f"the run did not finish within {timeout_s} s; worker log: {log.read_text()[-3000:]}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture(scope="module")
def in_process_hashes(tmp_path_factory) -> dict[str, str]:
    """The lake the in-process executor writes for the range, in a home of its own."""
    from dagster import DagsterInstance

    with pytest.MonkeyPatch.context() as monkeypatch:
        reference = _home(tmp_path_factory.mktemp("in_process"), monkeypatch)
        monkeypatch.delenv("QUANT_ASSETS_EXECUTOR", raising=False)
        with DagsterInstance.ephemeral() as instance:
            results = _materialize(instance)
    assert [r.success for r in results] == [True]
    expected = _lake_hashes(reference)
    assert len(expected) == len(ASSETS) * len(SYMBOLS) * 3
    return expected


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_partition_range_through_celery_worker_equals_in_process(tmp_path, monkeypatch, pg_database, in_process_hashes, broker):
    from dagster import DagsterEventType

    from quant_assets.instance import get_instance

    url = BROKERS[broker]
    _broker_or_skip(url)

    # The same range through Celery: a queue of this test's own on the machine's broker, the
    # instance on a PostgreSQL database of its own, and a worker started as a person would.
    celery_home = _home(tmp_path / "celery", monkeypatch)
    queue = f"qa_test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("QUANT_ASSETS_EXECUTOR", "celery")
    monkeypatch.setenv("QUANT_ASSETS_CELERY_BROKER", url)
    monkeypatch.setenv("QUANT_ASSETS_CELERY_QUEUE", queue)
    monkeypatch.setenv("QUANT_ASSETS_CELERY_CONCURRENCY", "2")
    monkeypatch.setenv("QUANT_ASSETS_PG_URL", pg_database)
    node = f"{queue}@{socket.gethostname()}"
    log = tmp_path / "worker.log"
    worker = start_in_own_group(
        [sys.executable, "-c", "from quant_assets.cli import main; main()", "worker", "--name", node], log, env=dict(os.environ)
    )
    try:
        _wait_for_worker(worker, url, node, log)
        instance = get_instance()
        try:
            started, seen = time.perf_counter(), []
            results = _within(RUN_TIMEOUT_S, lambda: _materialize(instance, progress=seen.append), log)
            elapsed = time.perf_counter() - started
            assert [r.success for r in results] == [True], log.read_text()[-3000:]
            events = instance.all_logs(results[0].run_id)
        finally:
            instance.dispose()
    finally:
        stop_group(worker)
        _delete_queue(url, queue)
    assert worker.returncode == 0, "SIGTERM is a warm shutdown: the worker finishes and exits cleanly"

    # Progress came while the run ran, read from what the worker stored, not only at the end.
    assert any(0 < p.done < p.total and not p.finished for p in seen), seen
    assert seen[-1].finished and seen[-1].done == seen[-1].total == len(ASSETS) * len(SYMBOLS) * 3

    # Every step ran in the worker: dagster-celery's engine event names the worker that took
    # it, and the step's own events come from a process other than this one.
    taken = {
        e.dagster_event.step_key: e.dagster_event.engine_event_data.metadata["Celery worker"].value
        for e in events
        if e.dagster_event
        and e.dagster_event.event_type == DagsterEventType.ENGINE_EVENT
        and e.step_key
        and "Celery worker" in e.dagster_event.engine_event_data.metadata
    }
    steps = {e.step_key for e in events if e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_START}
    assert steps and set(taken) == steps
    assert set(taken.values()) == {node}
    step_pids = {e.dagster_event.pid for e in events if e.dagster_event and e.dagster_event.event_type == DagsterEventType.STEP_START}
    assert os.getpid() not in step_pids
    materialized = [e for e in events if e.dagster_event and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION]
    assert len(materialized) == len(ASSETS) * len(SYMBOLS) * 3

    assert _lake_hashes(celery_home) == in_process_hashes
    print(f"celery run on {broker}: {len(steps)} steps, {len(materialized)} asset partitions in {elapsed:.1f} s")
