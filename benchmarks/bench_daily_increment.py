"""Daily increment: one new day through the whole graph, for the 10 pairs, as the schedule runs it.

    python benchmarks/bench_daily_increment.py                         # new days 2025-11-24..26
    python benchmarks/bench_daily_increment.py --workdir /tmp/bd          # keep the home
    python benchmarks/bench_daily_increment.py --workdir /tmp/bd --continue --start-date 2024-11-24 \
        --day 2025-11-27 --days 2                                       # two more days on it, no seed

Universe: the 10 spot pairs of ../shared/data with a perpetual (funding and 1h mark), read
with the ``file`` sources (``QUANT_ASSETS_MARKET_SOURCE=file``, Reddit for social text): all
real data, nothing synthesised. Partitions start a year before the first new day
(``QUANT_ASSETS_START_DATE`` = day - 365), so the date dimension holds a year and more.

The lake holds what the new days read, materialized (untimed) through the project's own
``build_definitions()`` and blocking checks, in one fresh home with an on-disk SQLite
instance and a local MLflow store:

- ``market_bars``, ``derivatives``, ``feature_matrix``, ``labels``: every day from the first
  day a fit reads to the day before the first new day. That covers the 90-day fit window of
  the new days' model (default ``QUANT_ASSETS_TRAIN_DAYS`` 90, ``_REFIT_DAYS`` 7: fits
  anchored on Mondays) and the 60-day gate window. Labels of the last 7 days are partial,
  as they are live: the bars after them have not come.
- ``multi_horizon_model`` and ``oos_eval`` for the gate window (the 59 days before the first
  new day), so gate_verdict reads a full window. To keep the setup affordable on two cores
  those models are fitted with ``--seed-train-days`` 30 and ``--seed-refit-days`` 28 (three
  fits per symbol instead of nine 90-day ones); gate_verdict reads their oos rows, whose
  volume does not depend on the model. The new days run with the defaults.
- ``social_text`` and ``text_embeddings`` for the text projection's lookback (30 days)
  before the first new day, and ``text_latents`` for the day before it (what its
  feature_matrix reads). Earlier feature_matrix partitions were built without text latents
  (their text features are flagged missing); no new-day step reads them.

Then, per new day D, as the daily schedule and eager automation would run it: one run per
asset over its partitions, in dependency order, each with its blocking checks, through
``quant_assets.runs.materialize`` with the project's Definitions and resources:
market_bars, derivatives, social_text (the sources, D), text_embeddings, text_latents,
feature_matrix (D), labels (D-7..D: the new day completes horizons of the 7 days before
it), multi_horizon_model (D: a refit when D is a cadence anchor, else the anchor's fit
found in MLflow and reused), oos_eval (D-7..D: their labels changed, and
``quant_assets.automation.conditions`` re-runs each of the latest days whose parents were
updated) and gate_verdict (D: the conditions re-judge only the newest days, whose windows
already hold every day complete by now). The default first new day, 2025-11-24, is a Monday (a refit day); the next two are
not. Each day ends in the lake before the next starts, as it would live.

``dagster_floor_s``: per asset a trivial mirror (``benchmarks.floor_definitions.mirror_floor``:
the same partitions, deps with the same partition mappings, the same metadata keys and
blocking check names, BackfillPolicy.single_run) over the same partitions in the same number
of runs, right after each day's pipeline.

Not counted: the process start and code-location import a run worker pays per run with the
default run launcher (``import_definitions_s`` in bench_partition_scale's JSON, ~10 s on this
machine), and first-use warm-up (LightGBM, torch, MLflow store), done once, untimed.

Ends with a JSON line: ``total_s`` (median over the no-refit days; target under 60),
``dagster_floor_s`` (the same days' floors), ``refit_total_s``, and per day the seconds per
asset, the floor's, and the load average.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_feature_matrix import perp_pairs  # noqa: E402
from benchmarks.common import (  # noqa: E402
    DEFAULT_DATA,
    fresh_workdir,
    log,
    model_home,
    model_partitions,
    peak_rss_mb,
    setup_inputs,
    step_seconds,
    timed_materializer,
    warm_up,
)  # fmt: skip


def parse_args():
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--day", default="2025-11-24", help="first new day (a Monday is a refit day)")
    p.add_argument("--days", type=int, default=3, help="consecutive new days, each run after the last")
    p.add_argument("--symbols", default=None, help="comma-separated keys (default: the spot pairs with perpetuals)")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--seed-train-days", type=int, default=30, help="fit window of the seeded gate-window models")
    p.add_argument("--seed-refit-days", type=int, default=28, help="refit cadence of the seeded gate-window models")
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temporary folder, removed)")
    p.add_argument("--start-date", default=None, help="first partition day (default: a year before --day)")
    p.add_argument(
        "--continue", dest="resume", action="store_true",
        help="no seed: run the new days on the home an earlier run left in --workdir (give its --start-date), "
        "e.g. the days after its last one",
    )  # fmt: skip
    args = p.parse_args()
    if args.resume and not (args.workdir and args.start_date):
        p.error("--continue needs the --workdir and --start-date of the run that left the home")
    return args


def main() -> None:
    import shutil

    args = parse_args()
    wall0 = time.perf_counter()
    data = Path(args.data).resolve()
    day0 = date.fromisoformat(args.day)
    symbols = sorted(args.symbols.split(",")) if args.symbols else perp_pairs(data)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # see bench_training
    if args.resume:
        work = Path(args.workdir)
        if not (work / "home" / "lake").is_dir():
            raise SystemExit(f"--continue: {work} holds no home left by an earlier run")
    else:
        work = fresh_workdir(args.workdir, "bench_daily_increment_")
    train_days, refit_days = model_home(work, day0, symbols)
    os.environ.update(
        QUANT_ASSETS_START_DATE=args.start_date or (day0 - timedelta(days=365)).isoformat(),
        QUANT_ASSETS_MARKET_SOURCE="file",
        QUANT_ASSETS_FILE_DROP=str(data),
    )
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        result = run(args, day0, symbols, train_days, refit_days)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    result["load_average_before"] = load_before
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["script_wall_s"] = round(time.perf_counter() - wall0, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    import json

    print(json.dumps(result, sort_keys=True), flush=True)


def seeded_definitions(train_days: int, refit_days: int):
    """The project's Definitions with the model asset built for another window and cadence."""
    from quant_assets.definitions import build_definitions

    saved = {k: os.environ.get(k) for k in ("QUANT_ASSETS_TRAIN_DAYS", "QUANT_ASSETS_REFIT_DAYS")}
    os.environ.update(QUANT_ASSETS_TRAIN_DAYS=str(train_days), QUANT_ASSETS_REFIT_DAYS=str(refit_days))
    try:
        return build_definitions()
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})


def seed(args, day0: date, symbols: list[str], train_days: int, refit_days: int, instance, defs) -> dict:
    """Untimed: what the new days read (see the module docstring). Returns what the lake holds."""
    from quant_assets import settings
    from quant_assets.assets.gate import gate_thresholds
    from quant_assets.evaluation.oos import OOS_ASSET
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets.models.window import anchor_for, fit_window
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.text.latents import latent_spec

    last = day0 - timedelta(days=1)
    window = gate_thresholds().window_days
    gate_first = day0 - timedelta(days=window - 1)
    # the seeded models for the gate window, and the features/labels their fits read
    seed_models, seed_fits, seed_window_days, _, _ = model_partitions(gate_first, last, symbols, args.seed_train_days, args.seed_refit_days)
    first = min(seed_window_days[0], fit_window(day0, symbols[0], train_days, refit_days).days[0])
    feature_parts = [DaySymbol(d, s) for d in days_between(first, last) for s in symbols]
    upstream_parts = [DaySymbol(d, s) for d in days_between(first - timedelta(days=1), last) for s in symbols]
    text_first = day0 - timedelta(days=latent_spec().lookback_days + 1)
    text_parts = [DaySymbol(d, s) for d in days_between(text_first, last) for s in symbols]
    latent_parts = [DaySymbol(last, s) for s in symbols]

    seed_defs = seeded_definitions(args.seed_train_days, args.seed_refit_days)
    timed_materialize = timed_materializer(seed_defs, settings.universe(), instance)
    seconds = {}
    seconds["social_text"] = timed_materialize(["social_text"], text_parts, "seed")[0]
    seconds["text_embeddings"] = timed_materialize(["text_embeddings"], text_parts, "seed")[0]
    seconds["text_latents"] = timed_materialize(["text_latents"], latent_parts, "seed")[0]
    seconds |= setup_inputs(timed_materialize, upstream_parts, feature_parts)
    seconds[MODELS_ASSET] = timed_materialize([MODELS_ASSET], seed_models, "seed")[0]
    anchor = anchor_for(day0, refit_days)
    served = [DaySymbol(d, s) for d in days_between(anchor, last) for s in symbols]
    if served:  # the first new day is no anchor: its fit was made on the anchor, as it would be live
        seconds[f"{MODELS_ASSET} ({train_days}-day)"] = timed_materializer(defs, settings.universe(), instance)([MODELS_ASSET], served, "seed")[0]
    seconds[OOS_ASSET] = timed_materialize([OOS_ASSET], seed_models, "seed")[0]

    def span(parts):
        days = sorted({p.day for p in parts})
        return f"{days[0]}..{days[-1]} ({len(parts)} partitions)"

    lake = {
        "market_bars, derivatives": span(upstream_parts),
        "feature_matrix, labels": span(feature_parts) + "; text latents missing before " + str(last),
        "social_text, text_embeddings": span(text_parts),
        "text_latents": span(latent_parts),
        "multi_horizon_model, oos_eval": span(seed_models)
        + f"; {len(seed_fits)} fits of {args.seed_train_days}-day windows every {args.seed_refit_days} days"
        + (f"; {span(served)} refitted with the defaults ({train_days}-day window, anchor {anchor})" if served else ""),
        "gate_verdict": "none",
    }
    return {"lake": lake, "seed_s": {k: round(v, 1) for k, v in seconds.items()}}


def day_plan(day: date, symbols: list[str]) -> list[tuple[str, list]]:
    """(asset, partitions) in the order the schedule and eager automation run them for ``day``."""
    from quant_assets.evaluation.gate_window import GATE_ASSET
    from quant_assets.evaluation.oos import OOS_ASSET
    from quant_assets.features.contract import FEATURES_ASSET
    from quant_assets.labels.forward import LABELS_ASSET
    from quant_assets.labels.horizons import LOOKAHEAD_DAYS
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets.partitions import DaySymbol, days_between

    today = [DaySymbol(day, s) for s in symbols]
    completed = [DaySymbol(d, s) for d in days_between(day - timedelta(days=LOOKAHEAD_DAYS), day) for s in symbols]
    return [
        ("market_bars", today),
        ("derivatives", today),
        ("social_text", today),
        ("text_embeddings", today),
        ("text_latents", today),
        (FEATURES_ASSET, today),
        (LABELS_ASSET, completed),
        (MODELS_ASSET, today),
        (OOS_ASSET, completed),  # their labels changed: the automation conditions redo them
        (GATE_ASSET, today),
    ]


def floor_definitions(defs, instance, assets: list[str]):
    """A ``mirror_floor`` per asset: its partition mappings, metadata keys and check names."""
    from dagster import AssetDep, AssetKey, Definitions

    from benchmarks.floor_definitions import mirror_floor

    floors, checks = [], []
    for name in assets:
        key = AssetKey(name)
        assets_def = defs.resolve_assets_def(key)
        deps = [
            AssetDep(f"floor_{dep.to_user_string()}", partition_mapping=assets_def.get_partition_mapping(dep))
            for dep in assets_def.dependency_keys
            if dep.to_user_string() in assets
        ]
        event = instance.get_latest_materialization_event(key)
        keys = sorted(event.asset_materialization.metadata) if event else []
        run_keys = [k for k in keys if k.startswith("run_") and k != "run_partitions"]
        part_keys = [k for k in keys if not k.startswith("run_")]
        check_names = [spec.name for c in defs.asset_checks for spec in c.check_specs if spec.asset_key == key]
        asset, asset_checks = mirror_floor(f"floor_{name}", deps, part_keys, run_keys, check_names)
        floors.append(asset)
        checks += asset_checks
    return Definitions(assets=floors, asset_checks=checks)


def run(args, day0: date, symbols: list[str], train_days: int, refit_days: int) -> dict:
    from quant_assets import settings
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.models.window import anchor_for
    from quant_assets.registry.store import MlflowStore

    instance = get_instance()
    universe = settings.universe()
    out: dict = {
        "benchmark": "daily_increment",
        "symbols": symbols,
        "data": "real: ../shared/data Binance spot 5m, USD-M funding and 1h mark, Reddit; nothing synthesised",
        "start_date": settings.start_date().isoformat(),
        "train_days": train_days,
        "refit_days": refit_days,
        "instance": type(instance.run_storage).__name__,
        "machine_cpus": os.cpu_count(),
    }
    defs = build_definitions()
    if args.resume:
        out["lake"] = f"as an earlier run left {args.workdir}: its seed, then its new days up to {day0 - timedelta(days=1)}"
    else:
        out |= seed(args, day0, symbols, train_days, refit_days, instance, defs)
    log(f"lake: {out['lake']}")
    timed_materialize = timed_materializer(defs, universe, instance)
    out["warm_up_s"] = round(warm_up(MlflowStore.from_env()), 1)

    floor_defs = None
    days = []
    for i in range(args.days):
        day = day0 + timedelta(days=i)
        plan = day_plan(day, symbols)
        refit = anchor_for(day, refit_days) == day
        load = [round(x, 2) for x in os.getloadavg()]
        per_asset, steps = {}, {}
        for asset, parts in plan:
            seconds, results = timed_materialize([asset], parts, f"day {day}")
            per_asset[asset] = round(seconds, 2)
            steps |= step_seconds(instance, results)
        if floor_defs is None:  # mirrors need the real assets' metadata keys, known after a run
            floor_defs = floor_definitions(defs, instance, [a for a, _ in plan])
            floor_materialize = timed_materializer(floor_defs, universe, instance)
        floor = {asset: round(floor_materialize([f"floor_{asset}"], parts, f"floor {day}")[0], 2) for asset, parts in plan}
        days.append(
            {
                "day": day.isoformat(),
                "refit": refit,
                "total_s": round(sum(per_asset.values()), 2),
                "dagster_floor_s": round(sum(floor.values()), 2),
                "per_asset_s": per_asset,
                "floor_per_asset_s": floor,
                "step_s": steps,
                "runs": len(plan),
                "partitions": {a: len(p) for a, p in plan},
                "load_average_at_start": load,
            }
        )
        print_day(days[-1])

    plain = [d for d in days if not d["refit"]]
    refits = [d for d in days if d["refit"]]
    out["days"] = days
    if plain:
        out["total_s"] = round(statistics.median(d["total_s"] for d in plain), 2)
        out["dagster_floor_s"] = round(statistics.median(d["dagster_floor_s"] for d in plain), 2)
        out["no_refit_totals_s"] = [d["total_s"] for d in plain]
        out["target_total_s"] = 60
    if refits:
        out["refit_total_s"] = refits[0]["total_s"]
        out["refit_dagster_floor_s"] = refits[0]["dagster_floor_s"]
    return out


def print_day(day: dict) -> None:
    print(f"day {day['day']} ({'refit' if day['refit'] else 'no refit'}; load {day['load_average_at_start']}):")
    for asset, seconds in day["per_asset_s"].items():
        print(f"  {asset:22s} {seconds:7.1f}s   floor {day['floor_per_asset_s'][asset]:5.1f}s   ({day['partitions'][asset]} partitions)")
    print(f"  {'total':22s} {day['total_s']:7.1f}s   floor {day['dagster_floor_s']:5.1f}s", flush=True)


if __name__ == "__main__":
    main()
