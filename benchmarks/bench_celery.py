"""What the Celery executor costs against the in-process and multiprocess executors.

The same backfill, ``dagster asset materialize --select market_bars,feature_matrix
--partition-range ...`` (what a user types; one run for the range, BackfillPolicy.single_run),
from the file drop ``../shared/data`` into an empty lake, with the Dagster instance on a fresh
PostgreSQL database (the Celery executor needs one every worker reaches), once per executor:

- ``in_process``: every step in the run's process;
- ``multiprocess``: Dagster's default, a process per step;
- ``celery``: every step a task on the machine's Redis, run by one ``quant-assets worker``
  (started, and its code loaded, before the clock starts; stopped after).

The executors run alternately ``--passes`` times (default 3), each on fresh state, and the
medians are reported. Every run writes the same lake: the benchmark checks that the SHA-256
of every partition file is the same for all of them.

Prints a final JSON line: median seconds per executor (and each run's), steps, asset
partitions, and the Celery overhead over in-process in seconds and per step.
Usage: python benchmarks/bench_celery.py [--start 2025-10-01 --end 2025-10-14] [--symbols BTC-USDT,ETH-USDT,SOL-USDT] [--passes 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BIN, REPO, dagster_backfill, emit, log, timed  # noqa: E402

PG_ADMIN_DSN = os.environ.get("QUANT_ASSETS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test")
BROKER = "redis://127.0.0.1:6379/0"
ASSETS = ("market_bars", "derivatives", "feature_matrix")
EXECUTORS = ("in_process", "multiprocess", "celery")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--start", default="2025-10-01")
    parser.add_argument("--end", default="2025-10-14")
    parser.add_argument("--symbols", default="BTC-USDT,ETH-USDT,SOL-USDT")
    parser.add_argument("--concurrency", type=int, default=2, help="steps the Celery worker runs at once")
    parser.add_argument("--passes", type=int, default=3, help="runs per executor (medians reported)")
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    symbols = args.symbols.split(",")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-celery-"))
    partition_range = f"{args.start}|{symbols[0]}...{args.end}|{symbols[-1]}"
    command = dagster_backfill("quant_assets.definitions", ",".join(ASSETS), partition_range)

    runs: dict[str, list[float]] = {e: [] for e in EXECUTORS}
    lakes = []
    for n in range(args.passes):
        # Executors alternate within a pass, so a load spike on a shared machine hits all.
        for executor in EXECUTORS:
            home = work / f"{executor}{n}"
            with _database() as pg_url:
                env = _env(home, args, pg_url, executor)
                worker = _start_worker(env, home) if executor == "celery" else None
                try:
                    runs[executor].append(timed(command, env, f"{executor} {n}"))
                finally:
                    if worker is not None:
                        _stop(worker)
                        _delete_queue(env["QUANT_ASSETS_CELERY_QUEUE"])
            lakes.append(_lake_hashes(home / "lake"))
    assert lakes[0] and all(lake == lakes[0] for lake in lakes), "the executors wrote different lakes"
    seconds = {e: statistics.median(r) for e, r in runs.items()}

    days = (date.fromisoformat(args.end) - date.fromisoformat(args.start)).days + 1
    steps = 2 * len(ASSETS)  # each asset and the op of its checks
    overhead = seconds["celery"] - seconds["in_process"]
    emit(
        {
            "benchmark": "celery_executor",
            "assets": list(ASSETS),
            "asset_partitions": len(ASSETS) * days * len(symbols),
            "steps": steps,
            "worker_concurrency": args.concurrency,
            "passes": args.passes,
            **{f"{name}_s": round(value, 2) for name, value in seconds.items()},
            **{f"{name}_runs_s": [round(x, 2) for x in r] for name, r in runs.items()},
            "celery_overhead_s": round(overhead, 2),
            "celery_overhead_per_step_s": round(overhead / steps, 2),
            "lakes_identical": True,
        }
    )


class _database:
    """A PostgreSQL database of its own for one executor's instance, dropped afterwards."""

    def __enter__(self) -> str:
        self.admin = psycopg2.connect(PG_ADMIN_DSN, connect_timeout=5)
        self.admin.autocommit = True
        self.name = f"qa_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.name}"')
        params = self.admin.get_dsn_parameters()
        return f"postgresql+psycopg2://{params['user']}@{params['host']}:{params['port']}/{self.name}"

    def __exit__(self, *exc) -> None:
        with self.admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.close()


def _env(home: Path, args, pg_url: str, executor: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_ASSETS_") and k != "DAGSTER_HOME"}
    env.update(
        QUANT_ASSETS_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        HF_HUB_OFFLINE="1",
        QUANT_ASSETS_SYMBOLS=args.symbols,
        QUANT_ASSETS_START_DATE=args.start,
        QUANT_ASSETS_MARKET_SOURCE="file",
        QUANT_ASSETS_FILE_DROP=args.shared,
        QUANT_ASSETS_PG_URL=pg_url,
        QUANT_ASSETS_EXECUTOR=executor,
        QUANT_ASSETS_CELERY_BROKER=BROKER,
        QUANT_ASSETS_CELERY_QUEUE=f"qa_bench_{uuid.uuid4().hex[:8]}",
        QUANT_ASSETS_CELERY_CONCURRENCY=str(args.concurrency),
    )
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text((REPO / "dagster.postgres.yaml").read_text())
    return env


def _start_worker(env: dict[str, str], home: Path) -> subprocess.Popen:
    from celery import Celery

    node = f"{env['QUANT_ASSETS_CELERY_QUEUE']}@bench"
    log_file = open(home / "worker.log", "wb")
    worker = subprocess.Popen(
        [str(BIN / "quant-assets"), "worker", "--name", node], env=env, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    app = Celery(broker=BROKER)
    deadline = time.monotonic() + 180
    while not app.control.ping(destination=[node], timeout=1.0):
        if worker.poll() is not None or time.monotonic() > deadline:
            _stop(worker)
            raise SystemExit(f"the worker did not start: {(home / 'worker.log').read_text()[-2000:]}")
    log(f"worker {node} ready")
    return worker


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def _delete_queue(queue: str) -> None:
    """Leave Redis as it was: the queue and kombu's binding keys (the name is this run's only)."""
    import redis

    client = redis.Redis.from_url(BROKER)
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)


def _lake_hashes(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest() for asset in ASSETS for p in sorted((lake / asset).rglob("*.parquet"))
    }


if __name__ == "__main__":
    main()
