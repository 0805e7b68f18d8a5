"""Benchmark: feature_matrix backfilled through Dagster vs the same work in bare polars.

    python benchmarks/bench_feature_matrix.py                       # 2025-01-01..2025-11-30, all pairs
    python benchmarks/bench_feature_matrix.py --start 2025-10-01 --end 2025-10-14 --symbols BTC-USDT,ETH-USDT

Data: ../shared/data (Binance spot 5m, USD-M funding, 1h mark and the SOL OI/long-short/taker
pull, Reddit posts and comments). Universe: the spot pairs that have a perpetual there (with
funding and mark), unless --symbols says otherwise.

Setup (not timed): a real on-disk Dagster instance (SQLite under a temporary DAGSTER_HOME),
every upstream asset materialized through Dagster, one run per rectangle: ``market_bars``
(file-drop spot bars) and ``derivatives`` (file-drop funding, mark, statistics; basis against
the spot bars) for the feature days and the day before; ``social_text`` and
``text_embeddings`` (all-MiniLM-L6-v2, cached by content) for those days and the text
projection's fit lookback before them; ``text_latents`` for the feature days and the day
before. The data does not cover every source in every period (Reddit text is October-November
2025 only, the statistics SOL in 2026 only), so the result names the sources that were empty
in the benchmarked days (``empty_sources``): their features come out missing and flagged.

Timed, in this order (floor first, so that it never runs on a bigger instance than the
pipeline did):

- ``dagster_floor_s``: a trivial asset over the same partitions run the same way (same
  partition mapping, the same per-partition metadata keys with constant values, a six-spec
  blocking check that passes at once): Dagster's own cost for the same runs and events;
- ``pipeline_s``: ``feature_matrix`` backfilled the way a user would, through
  ``quant_assets.runs.materialize`` (one single run per rectangle, the asset plus its six
  blocking checks);
- ``raw_compute_s``: the same data work without Dagster in bare polars: read the same upstream
  lake files (one multi-file polars read), compute the features (the same pure functions),
  write one parquet per partition, and run the same checks (structural, as-of from inputs,
  missing policy, prefix invariance on the same samples) on the result;
- the audit (``quant-assets audit``, default sampling) over every stored partition: rows/s.

The last line printed is JSON with ``pipeline_s``, ``raw_compute_s``, ``dagster_floor_s``,
``ratio_vs_floor_plus_raw`` (= pipeline / (floor + raw); target <= 1.3),
``audit_rows_per_s``, ``source_rows`` (present rows per source in the feature days) and
``empty_sources``.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import DEFAULT_DATA, timed_materializer  # noqa: E402


def perp_pairs(data: Path) -> list[str]:
    import polars as pl

    spot = set(pl.read_parquet(data / "binance_spot_5m.parquet", columns=["symbol"])["symbol"].unique())
    perps = {s.split(":")[0] for s in pl.read_parquet(data / "binance_usdm_funding_rate.parquet", columns=["symbol"])["symbol"].unique()}
    marks = {s.split(":")[0] for s in pl.read_parquet(data / "binance_usdm_mark_1h.parquet", columns=["symbol"])["symbol"].unique()}
    return sorted(s.replace("/", "-") for s in spot & perps & marks)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--start", default="2025-01-01")
    p.add_argument("--end", default="2025-11-30")
    p.add_argument("--symbols", default=None, help="comma-separated keys (default: spot pairs with perpetuals)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temporary folder, removed)")
    p.add_argument("--sample", default="3", help="prefix-invariance samples per partition besides first/last")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    data = Path(args.data).resolve()
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    symbols = sorted(args.symbols.split(",")) if args.symbols else perp_pairs(data)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_feature_matrix_"))
    work.mkdir(parents=True, exist_ok=True)
    # Partition definitions are read from the environment when the assets are imported; the
    # first day leaves room for the text projection's fit window before the feature days.
    os.environ.update(
        QUANT_ASSETS_HOME=str(work / "home"),
        QUANT_ASSETS_SYMBOLS=",".join(symbols),
        QUANT_ASSETS_START_DATE=(start - timedelta(days=1 + text_lookback_days())).isoformat(),
        DAGSTER_HOME=str(work / "dagster"),
    )
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore")
    try:
        result = run(args, data, start, end, symbols, work)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


def text_lookback_days() -> int:
    from quant_assets.text.latents import latent_spec

    return latent_spec().lookback_days


def run(args, data, start, end, symbols, work) -> dict:
    from dagster import AssetDep, Definitions, load_asset_checks_from_modules, load_assets_from_modules

    from benchmarks.floor_definitions import mirror_floor
    from quant_assets import settings
    from quant_assets.assets import derivatives as derivatives_assets
    from quant_assets.assets import derivatives_checks, market, market_checks, social, social_checks
    from quant_assets.assets.features import feature_matrix, lookback_mapping
    from quant_assets.assets.features_checks import feature_matrix_checks
    from quant_assets.definitions import embedding_model
    from quant_assets.features import audit as feature_audit
    from quant_assets.features import contract
    from quant_assets.features.inputs import UPSTREAM
    from quant_assets.instance import get_instance
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.resources.derivatives_data import FileDropDerivatives
    from quant_assets.resources.lake import LakeResource
    from quant_assets.resources.market_data import FileDropMarketData
    from quant_assets.resources.social_data import FileDropSocialText, SocialLinking

    sample = "all" if args.sample == "all" else int(args.sample)
    lake_root = settings.home().lake
    universe = settings.universe()
    feature_parts = [DaySymbol(d, s) for d in days_between(start, end) for s in symbols]
    upstream_parts = [DaySymbol(d, s) for d in days_between(start - timedelta(days=1), end) for s in symbols]
    text_parts = [DaySymbol(d, s) for d in days_between(settings.start_date(), end) for s in symbols]

    keys = ["rows", "first_t", "last_t", "content_sha256", "path", "contract_version", "contract_hash",
            "feature_count", "inputs_read", "upstream_notes"]  # fmt: skip
    bench_floor, bench_floor_checks = mirror_floor(
        "bench_floor",
        deps=[AssetDep(a, partition_mapping=lookback_mapping(a)) for a in UPSTREAM],
        metadata_keys=keys,
        run_metadata=[],
        check_names=list(feature_audit.CHECKS),
    )

    defs = Definitions(
        assets=[
            *load_assets_from_modules([market, derivatives_assets, social]),
            feature_matrix,
            bench_floor,
        ],
        asset_checks=[
            *load_asset_checks_from_modules([market_checks, derivatives_checks, social_checks]),
            feature_matrix_checks,
            *bench_floor_checks,
        ],
        resources={
            "lake": LakeResource(root=lake_root),
            "market_data": FileDropMarketData(folder=str(data), pattern="binance_spot_5m.parquet", source_name="binance-spot"),
            "derivatives_data": FileDropDerivatives(folder=str(data)),
            "social_source": FileDropSocialText(folder=str(data)),
            "social_linking": SocialLinking(),
            "embedding_model": embedding_model(),
        },
    )
    instance = get_instance()
    out = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "symbols": symbols,
        "partitions": len(feature_parts),
        "instance": type(instance.run_storage).__name__,
        "machine_cpus": os.cpu_count(),
    }

    timed = timed_materializer(defs, universe, instance)

    print(f"setup: market_bars + derivatives for {len(upstream_parts)} partitions ...", file=sys.stderr, flush=True)
    out["setup_market_bars_s"] = round(timed(["market_bars"], upstream_parts)[0], 2)
    out["setup_derivatives_s"] = round(timed(["derivatives"], upstream_parts)[0], 2)
    print(f"setup: social_text + text_embeddings for {len(text_parts)} partitions, text_latents for "
          f"{len(upstream_parts)} ...", file=sys.stderr, flush=True)  # fmt: skip
    out["setup_social_text_s"] = round(timed(["social_text"], text_parts)[0], 2)
    out["setup_text_embeddings_s"] = round(timed(["text_embeddings"], text_parts)[0], 2)
    out["setup_text_latents_s"] = round(timed(["text_latents"], upstream_parts)[0], 2)
    out["source_rows"] = source_rows(lake_root, feature_parts)
    out["empty_sources"] = sorted(name for name, rows in out["source_rows"].items() if rows == 0)
    print(f"empty in the benchmarked days: {', '.join(out['empty_sources']) or 'none'}", file=sys.stderr, flush=True)

    # The floor runs first: the instance then holds fewer events than when the pipeline
    # runs, which if anything flatters the floor (a conservative ratio).
    print("floor: a trivial asset over the same partitions ...", file=sys.stderr, flush=True)
    floor_s, _ = timed(["bench_floor"], feature_parts)

    print(f"pipeline: feature_matrix for {len(feature_parts)} partitions ...", file=sys.stderr, flush=True)
    pipeline_s, results = timed([contract.FEATURES_ASSET], feature_parts)
    evaluations = {e.check_name: e.passed for r in results for e in r.get_asset_check_evaluations()}
    out["pipeline_checks_passed"] = evaluations

    print("raw: the same work in bare polars ...", file=sys.stderr, flush=True)
    raw = raw_polars(lake_root, feature_parts, work / "raw_out", sample)
    out.update({f"raw_{k}": round(v, 3) for k, v in raw.items()})

    print("audit ...", file=sys.stderr, flush=True)
    from click.testing import CliRunner

    from quant_assets.cli import main as cli

    t0 = time.perf_counter()
    audit = CliRunner().invoke(
        cli, ["audit", "--asset", contract.FEATURES_ASSET, "--start", start.isoformat(), "--end", end.isoformat(),
              "--lake", lake_root, "--quiet", "--sample", str(sample), "--json-report", str(work / "audit.json")],
    )  # fmt: skip
    audit_s = time.perf_counter() - t0
    report = json.loads((work / "audit.json").read_text())
    raw_s = raw["total_s"]
    out.update(
        {
            "pipeline_s": round(pipeline_s, 2),
            "raw_compute_s": round(raw_s, 2),
            "dagster_floor_s": round(floor_s, 2),
            "ratio_vs_floor_plus_raw": round(pipeline_s / (floor_s + raw_s), 3),
            "audit_exit_code": audit.exit_code,
            "audit_violations": report["violations"],
            "audit_rows_checked": report["rows_checked"],
            "audit_rows_recomputed": report["rows_recomputed"],
            "audit_s": round(audit_s, 2),
            "audit_rows_per_s": round(report["rows_checked"] / audit_s, 1),
        }
    )
    return out


def source_rows(lake_root: str, parts) -> dict[str, int]:
    """Rows that carry data (not flagged missing) per source in ``parts``: bars, each
    derivatives metric, social text, and each text tower's non-empty 5m buckets."""
    import polars as pl

    from quant_assets.lake.store import ParquetLake
    from quant_assets.text.latents import TOWERS

    lake = ParquetLake(lake_root)
    rows = {"market_bars": lake.read_many("market_bars", parts, missing_ok=True).height}
    derivs = lake.read_many("derivatives", parts, missing_ok=True)
    if not derivs.is_empty():
        present = derivs.group_by("metric").agg(n=(~pl.col("is_missing")).sum())
        rows.update({f"derivatives.{m}": int(n) for m, n in present.sort("metric").iter_rows()})
    rows["social_text"] = lake.read_many("social_text", parts, missing_ok=True).height
    latents = lake.read_many("text_latents", parts, missing_ok=True)
    for tower in TOWERS:
        column = f"{tower}_latent_missing"
        rows[f"text_latents.{tower}"] = int((~latents[column]).sum()) if column in latents.columns else 0
    return rows


def raw_polars(lake_root: str, parts, out_dir: Path, sample) -> dict[str, float]:
    """Features + checks for ``parts`` straight from the lake files, no Dagster."""
    import polars as pl

    from quant_assets.features.audit import (
        asof_input_violations,
        asof_violations,
        choose_samples,
        missing_policy_violations,
        prefix_violations,
    )
    from quant_assets.features.compute import features_for_partitions, partition_inputs, recompute_at
    from quant_assets.features.inputs import UPSTREAM, Inputs, all_mapped_days
    from quant_assets.partitions import DaySymbol

    timings = {}
    t0 = time.perf_counter()
    days = sorted({d for p in parts for ds in all_mapped_days(p.day).values() for d in ds})
    symbols = sorted({p.symbol for p in parts})
    frames = {}
    for asset in UPSTREAM:
        root = Path(lake_root) / asset
        files = [
            str(root / f"date={d.isoformat()}" / f"symbol={s}" / "part-0.parquet")
            for d in days
            for s in symbols
            if (root / f"date={d.isoformat()}" / f"symbol={s}" / "part-0.parquet").exists()
        ]
        if files:
            frames[asset] = (
                pl.read_parquet(files, include_file_paths="_path").with_columns(symbol=pl.col("_path").str.extract(r"symbol=([^/]+)/")).drop("_path")
            )
        else:
            frames[asset] = None
    inputs = Inputs(*(frames[a] for a in UPSTREAM))
    timings["read_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    upstream = {p: all_mapped_days(p.day) for p in parts}
    features = features_for_partitions(inputs, parts, upstream)
    timings["features_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    for (name,), frame in features.partition_by("partition", as_dict=True, maintain_order=True).items():
        frame.drop("partition").write_parquet(out_dir / f"{name.replace('|', '_')}.parquet", compression="zstd", compression_level=3)
    timings["write_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    violations = asof_violations(features) + missing_policy_violations(features)
    violations += asof_input_violations(features, partition_inputs(inputs, parts, upstream))
    samples = []
    for name, times in features.group_by("partition", maintain_order=True).agg(pl.col("t")).iter_rows():
        part = DaySymbol.parse(name)
        samples += [(part, t) for t in choose_samples(part, times, sample)]
    violations += prefix_violations(features, recompute_at(inputs, samples, upstream))
    timings["checks_s"] = time.perf_counter() - t3
    timings["violations"] = float(len(violations))
    timings["total_s"] = time.perf_counter() - t0
    return timings


if __name__ == "__main__":
    main()
