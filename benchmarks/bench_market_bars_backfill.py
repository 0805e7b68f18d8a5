"""Backfill benchmark for market_bars, against the Dagster floor.

1. Setup (untimed): every spot pair of ../shared/data/binance_spot_5m.parquet over the
   range goes through the market_bars asset with the file-drop source into a scratch lake,
   and is exported as a bundle.
2. ``quant-assets bundle import --unpack-only`` into a fresh home (timed, reported).
3. pipeline: ``dagster asset materialize --select market_bars --partition-range ...`` on a
   fresh on-disk SQLite instance and an empty lake, the way a user backfills; the blocking
   checks run too and publish what passes.
4. floor: the same command for a trivial asset over the same partitions.

Pipeline and floor run alternately ``--passes`` times (default 3), each on fresh state, so a
load spike on a shared machine hits both; the ratio is the median of the per-pass ratios,
with its spread (``ratio_min``, ``ratio_max``), so one lucky pass does not decide.

Prints a final JSON line: pipeline_s, dagster_floor_s (medians), ratio, ratio_min, ratio_max,
rows, rows_per_s, ...
Usage: python benchmarks/bench_market_bars_backfill.py [--start 2025-01-01 --end 2025-11-30] [--passes 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import BIN, dagster_backfill, emit, home_env, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--end", default="2025-11-30")
    parser.add_argument("--symbols", default="", help="comma list of keys (default: every pair in the file)")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--passes", type=int, default=3, help="pipeline/floor pairs, run alternately")
    args = parser.parse_args()

    spot_file = Path(args.shared) / "binance_spot_5m.parquet"
    pairs = sorted(pl.read_parquet(spot_file, columns=["symbol"])["symbol"].unique().to_list())
    symbols = args.symbols.split(",") if args.symbols else [p.replace("/", "-") for p in pairs]
    # Partitions are defined from the environment when the code location loads.
    os.environ.update(QUANT_ASSETS_SYMBOLS=",".join(symbols), QUANT_ASSETS_START_DATE=args.start)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-bars-"))
    bundle = work / "bars.tar.gz"
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    rows = build_bundle(spot_file, work / "source_home", bundle, symbols, start, end)

    home = work / "home"
    env = home_env(home, QUANT_ASSETS_MARKET_SOURCE="bundle")
    import_s = timed([str(BIN / "quant-assets"), "bundle", "import", str(bundle), "--unpack-only"], env, "import")
    partition_range = f"{start}|{symbols[0]}...{end}|{symbols[-1]}"
    pipeline_runs, floor_runs = [], []
    for n in range(args.passes):
        # Fresh instance and empty lake per pass; the unpacked bundle is shared, read-only.
        pass_home = work / f"pass{n}"
        pass_home.mkdir(parents=True)
        (pass_home / "bundles").symlink_to(home / "bundles", target_is_directory=True)
        pass_env = home_env(pass_home, QUANT_ASSETS_MARKET_SOURCE="bundle")
        pipeline_runs.append(timed(dagster_backfill("quant_assets.definitions", "market_bars", partition_range), pass_env, f"pipeline {n}"))
        stored = pl.scan_parquet(str(pass_home / "lake" / "market_bars" / "**" / "*.parquet")).select(pl.len()).collect().item()
        assert stored == rows, f"lake holds {stored} bars, the bundle {rows}"
        floor_env = home_env(work / f"floor{n}")
        floor_runs.append(timed(dagster_backfill("benchmarks.floor_definitions", "floor", partition_range), floor_env, f"floor {n}"))

    ratios = sorted(p / f for p, f in zip(pipeline_runs, floor_runs))
    partitions = ((end - start).days + 1) * len(symbols)
    pipeline_s, floor_s = statistics.median(pipeline_runs), statistics.median(floor_runs)
    emit(
        {
            "benchmark": "market_bars_backfill",
            "symbols": len(symbols),
            "partitions": partitions,
            "rows": rows,
            "passes": args.passes,
            "import_s": round(import_s, 2),
            "pipeline_s": round(pipeline_s, 2),
            "dagster_floor_s": round(floor_s, 2),
            "pipeline_runs_s": [round(x, 2) for x in pipeline_runs],
            "floor_runs_s": [round(x, 2) for x in floor_runs],
            "ratio": round(statistics.median(ratios), 3),
            "ratio_min": round(ratios[0], 3),
            "ratio_max": round(ratios[-1], 3),
            "rows_per_s": round(rows / pipeline_s, 1),
        }
    )


def build_bundle(spot_file: Path, source_home: Path, bundle: Path, symbols: list[str], start: date, end: date) -> int:
    """Run market_bars over the raw file into a scratch lake (in-memory instance), export it."""
    from dagster import DagsterInstance

    from quant_assets.bundles.export import export_lake
    from quant_assets.definitions import build_definitions
    from quant_assets.lake.store import ParquetLake
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.runs import materialize

    t0 = time.perf_counter()
    os.environ.update(
        QUANT_ASSETS_HOME=str(source_home),
        QUANT_ASSETS_MARKET_SOURCE="file",
        QUANT_ASSETS_FILE_DROP=str(spot_file.parent),
    )
    parts = [DaySymbol(d, s) for d in days_between(start, end) for s in symbols]
    with DagsterInstance.ephemeral() as instance:
        results = materialize(build_definitions(), ["market_bars"], parts, symbols, instance)
    if not all(r.success for r in results):
        raise SystemExit("setup: market_bars from the raw file failed")
    lake = ParquetLake(str(source_home / "lake"))
    manifest = export_lake(lake, bundle, start, end, symbols, ["market_bars"])
    rows = sum(f.rows for f in manifest.files)
    size_mb = bundle.stat().st_size / 1e6
    print(
        f"[bench] setup: {len(manifest.files)} partitions, {rows} bars, bundle {size_mb:.1f} MB in {time.perf_counter() - t0:.0f}s", file=sys.stderr
    )
    return rows


if __name__ == "__main__":
    main()
