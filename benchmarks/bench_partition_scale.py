"""Partition scale: the Dagster floor at 50 symbols x a year of daily partitions.

Every asset is partitioned by UTC day x symbol, so one asset gains ``symbols`` partitions a
day, ``365 x symbols`` a year (3,650 at the 10 pairs with perpetuals, 18,250 at 50). This
measures what Dagster itself costs at that size, with no data work:

1. ``load``: in a fresh interpreter per universe size (``--probe-symbols``, default 10 and
   50), the seconds to import dagster, to import ``quant_assets.definitions`` (the project's
   one ``Definitions``, every asset over ``date`` x ``symbol``), to resolve its asset graph
   and its asset job (what the webserver and daemon do on each code-location load), to list
   every partition key of one asset, and to expand the year's range a single-run backfill
   hands an asset (``get_partition_keys_in_range``).
2. ``floor``: ``dagster asset materialize`` of ``benchmarks/floor_definitions.py``'s trivial
   ``floor`` asset (``BackfillPolicy.single_run``) over the whole grid in ONE run, on a fresh
   on-disk SQLite instance (``dagster.yaml``), the way a user backfills a range. Afterwards
   the instance must report every partition materialized.

The date dimension runs from ``QUANT_ASSETS_START_DATE`` to today (``end_offset=1``: today's
partition exists), so the start is set to ``--days`` days before today: the definition holds
``(days + 1) x symbols`` partitions and the backfill covers the ``days`` complete ones.
Symbol keys are ``SYM00-USDT``..: the floor reads no data, only the grid's size matters.

Ends with a JSON line: ``dagster_floor_s``, ``floor_s_per_1000_partitions``, ``partitions``,
``floor_planning_s`` (run created to run started: Dagster writes one planned event per
partition before the step starts), ``floor_execution_s`` (started to ended: one
materialization event per partition),
``load`` (per universe size) and the load average before and after.
Usage: python benchmarks/bench_partition_scale.py [--symbols 50 --days 365] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import REPO, dagster_backfill, emit, fresh_workdir, home_env, log, timed  # noqa: E402


def symbol_keys(count: int) -> list[str]:
    return [f"SYM{i:02d}-USDT" for i in range(count)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--symbols", type=int, default=50, help="symbols in the universe")
    p.add_argument("--days", type=int, default=365, help="complete days backfilled")
    p.add_argument("--probe-symbols", default="10,50", help="universe sizes whose Definitions load is timed")
    p.add_argument("--workdir", default=None, help="keep the instance here (default: a temporary folder, removed)")
    p.add_argument("--probe", type=int, default=0, help=argparse.SUPPRESS)  # internal: one load probe
    args = p.parse_args()
    if args.probe:
        print(json.dumps(probe_load(args.probe)))
        return

    load_before = [round(x, 2) for x in os.getloadavg()]
    start = date.today() - timedelta(days=args.days)  # ends yesterday: `days` complete days
    end = start + timedelta(days=args.days - 1)
    work = fresh_workdir(args.workdir, "bench_partition_scale_")
    try:
        load = {}
        for n in [int(x) for x in args.probe_symbols.split(",") if x]:
            load[str(n)] = run_probe(n, start, work)
            log(f"load with {n} symbols: {load[str(n)]}")

        symbols = symbol_keys(args.symbols)
        env = home_env(work / "floor_home", QUANT_ASSETS_SYMBOLS=",".join(symbols), QUANT_ASSETS_START_DATE=start.isoformat())
        partition_range = f"{start}|{symbols[0]}...{end}|{symbols[-1]}"
        partitions = args.days * args.symbols
        floor_s = timed(dagster_backfill("benchmarks.floor_definitions", "floor", partition_range), env, f"floor, {partitions} partitions in one run")
        figures = run_figures(env)
        stored = figures["materialized"]
        if stored != partitions:
            raise SystemExit(f"the instance reports {stored} floor partitions materialized, expected {partitions}")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"floor: {floor_s:.1f}s for {partitions} partitions in one run ({1000 * floor_s / partitions:.1f}s per 1,000; "
        f"run created to started {figures['planning_s']}s, started to ended {figures['execution_s']}s)"
    )
    for n, figures in load.items():
        print(f"load, {n} symbols: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    emit(
        {
            "benchmark": "partition_scale",
            "symbols": args.symbols,
            "days": args.days,
            "partitions": partitions,
            "definition_partitions_per_asset": (args.days + 1) * args.symbols,
            "range": partition_range,
            "runs": 1,
            "dagster_floor_s": round(floor_s, 2),
            "floor_s_per_1000_partitions": round(1000 * floor_s / partitions, 2),
            "materialized_reported": stored,
            "floor_planning_s": figures["planning_s"],
            "floor_execution_s": figures["execution_s"],
            "load": load,
            "instance": "sqlite (dagster.yaml)",
            "machine_cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    )


def run_probe(symbols: int, start: date, work: Path) -> dict:
    """``probe_load`` in a fresh interpreter (imports are cached per process)."""
    env = home_env(work / f"probe_{symbols}", QUANT_ASSETS_SYMBOLS=",".join(symbol_keys(symbols)), QUANT_ASSETS_START_DATE=start.isoformat())
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", str(symbols)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"load probe with {symbols} symbols failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe_load(symbols: int) -> dict:
    """Seconds for each step of loading the project's Definitions at this universe size."""
    t0 = time.perf_counter()
    import dagster  # noqa: F401

    t1 = time.perf_counter()
    from quant_assets.definitions import defs

    t2 = time.perf_counter()
    graph = defs.resolve_asset_graph()
    defs.resolve_implicit_global_asset_job_def()
    t3 = time.perf_counter()
    from quant_assets.partitions import daily_symbol_partitions

    partitions_def = daily_symbol_partitions()  # fresh: no memoised ranges
    keys = partitions_def.get_partition_keys()
    t4 = time.perf_counter()
    first_day = min(k.keys_by_dimension["date"] for k in keys)
    last_day = max(k.keys_by_dimension["date"] for k in keys)
    from dagster import PartitionKeyRange

    from quant_assets import settings

    universe = settings.universe()
    # A whole-grid range, as a single-run backfill of every partition hands the asset.
    in_range = partitions_def.get_partition_keys_in_range(PartitionKeyRange(f"{first_day}|{universe[0]}", f"{last_day}|{universe[-1]}"))
    t5 = time.perf_counter()
    return {
        "import_dagster_s": round(t1 - t0, 2),
        "import_definitions_s": round(t2 - t1, 2),
        "resolve_graph_and_job_s": round(t3 - t2, 2),
        "partition_keys_s": round(t4 - t3, 2),
        "range_keys_s": round(t5 - t4, 2),
        "assets": len(list(graph.get_all_asset_keys())),
        "partition_keys_per_asset": len(keys),
        "range_keys": len(in_range),
    }


RUN_FIGURES = """
import json
from dagster import AssetKey, DagsterInstance
with DagsterInstance.get() as i:
    (record,) = i.get_run_records()
    stats = i.get_run_stats(record.dagster_run.run_id)
    print(json.dumps({
        "materialized": len(i.get_materialized_partitions(AssetKey("floor"))),
        # the run is created, then one ASSET_MATERIALIZATION_PLANNED event per partition, then it starts
        "planning_s": round(stats.start_time - record.create_timestamp.timestamp(), 1),
        "execution_s": round(stats.end_time - stats.start_time, 1),
    }))
"""


def run_figures(env: dict) -> dict:
    """From the backfill's instance: partitions reported materialized, and the run's seconds
    from creation to start (writing the planned events) and from start to end."""
    proc = subprocess.run([sys.executable, "-c", RUN_FIGURES], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
