"""Serving benchmark: one trading tick for the 10-pair universe, predictions vs a bare booster, a replay.

    python benchmarks/bench_serving.py                      # the perpetual pairs of ../shared/data
    python benchmarks/bench_serving.py --ticks 100 --replay-days 3   # a quick look

Setup (untimed): a fresh home whose lake holds bars and derivatives from the data files (the
file market source), feature_matrix and labels of one fit window per symbol (with their
checks), one ``multi_horizon_model`` fit per symbol through Dagster (short window:
QUANT_ASSETS_TRAIN_DAYS, default 14 here; the tests' fast training: 40 rounds, 2 epochs, no
CV folds), and ``champion`` pointed at each name's version, as a person would. Text sources are
declared only (no text features: flagged missing, as before October in the demo).

Timed, all in-process, no exchange I/O (the paper venue reads the lake's bars):

- ``tick``: ``serving.tick.run_tick`` for every symbol of the universe, the four horizons,
  family ``mean`` (LightGBM boosters and the torch net both predict), at ``--ticks``
  consecutive 5m decision times after the anchor: champions resolved through the registry,
  feature rows recomputed from the lake by feature_matrix's code, signals, allocator, risk,
  paper orders and fills in a SQLite ledger. p50 and p99 (targets 100 ms and 250 ms).
- ``predict``: the served prediction of one symbol's row (``serving.tick.predict``, family
  lgbm: design matrix and four boosters) vs the bare ``Booster.predict`` calls on a prepared
  array (target <= 3x).
- ``replay``: ``serving.replay`` (``quant-assets paper replay``'s code) over ``--replay-days``
  days for ``--replay-symbols``; ticks per second.

The setup is ``benchmarks/common.py``'s, shared with bench_training and bench_evals.
Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_feature_matrix import DEFAULT_DATA, perp_pairs  # noqa: E402
from benchmarks.common import (  # noqa: E402
    fresh_workdir,
    log,
    model_definitions,
    model_home,
    model_partitions,
    setup_inputs,
    timed_materializer,
)

UTC = timezone.utc


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--anchor", default="2025-10-20", help="the fit's anchor (a Monday); ticks start the day after")
    p.add_argument("--symbols", default=None, help="comma-separated keys (default: spot pairs with perpetuals)")
    p.add_argument("--ticks", type=int, default=500)
    p.add_argument("--replay-days", type=int, default=30)
    p.add_argument("--replay-symbols", default="BTC-USDT,ETH-USDT,SOL-USDT")
    p.add_argument("--train-days", type=int, default=int(os.environ.get("QUANT_ASSETS_TRAIN_DAYS", "14")))
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--workdir", default=None, help="keep everything here (default: a temporary folder, removed)")
    p.add_argument("--profile", default=None, help="write a cProfile of the timed ticks to this file")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    data = Path(args.data).resolve()
    symbols = sorted(args.symbols.split(",")) if args.symbols else perp_pairs(data)
    replay_symbols = [s for s in args.replay_symbols.split(",") if s]
    anchor = date.fromisoformat(args.anchor)
    work = fresh_workdir(args.workdir, "bench_serving_")
    os.environ.update(QUANT_ASSETS_TRAIN_DAYS=str(args.train_days), QUANT_ASSETS_REFIT_DAYS="7")
    train_days, refit_days = model_home(work, anchor, symbols)
    os.environ.update(
        QUANT_ASSETS_SERVING_FAMILY="mean",  # both families predict on every tick
        QUANT_ASSETS_LEDGER_URL=f"sqlite:///{work}/ledger.sqlite3",
    )
    wall0 = time.perf_counter()
    try:
        out = {"symbols": symbols, "anchor": anchor.isoformat(), "train_days": train_days}
        out["setup_s"] = round(setup(data, symbols, replay_symbols, anchor, args.replay_days, train_days, refit_days), 1)
        out.update(bench_ticks(symbols, anchor, args.ticks, args.profile))
        out.update(bench_predict(symbols[0], anchor))
        out.update(bench_replay(replay_symbols, anchor, args.replay_days))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    out["script_wall_s"] = round(time.perf_counter() - wall0, 1)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["machine_cpus"] = os.cpu_count()
    print(json.dumps(out, sort_keys=True), flush=True)


def setup(data: Path, symbols, replay_symbols, anchor: date, replay_days: int, train_days: int, refit_days: int) -> float:
    """Bars, derivatives, features, labels and one fit per symbol through Dagster; champions set."""
    from dagster import DagsterInstance

    from quant_assets import settings
    from quant_assets.labels.horizons import HORIZON_NAMES
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.registry.names import registered_name
    from quant_assets.registry.tracking import Tracking
    from quant_assets.resources.models import ModelTraining

    t0 = time.perf_counter()
    fast = ModelTraining(lgbm_rounds=40, nn_epochs=2, cv_folds=0)  # the tests' fast fits: serving, not model quality
    defs, store, _ = model_definitions(data, train_days, refit_days, training=fast)
    model_parts, fits, window_days, feature_parts, upstream = model_partitions(anchor, anchor, symbols, train_days, refit_days)
    model_span = days_between(upstream[0].day, anchor + timedelta(days=3))
    replay_span = days_between(anchor, anchor + timedelta(days=replay_days + 2))
    upstream = sorted({*upstream, *(DaySymbol(d, s) for d in model_span for s in symbols),
                       *(DaySymbol(d, s) for d in replay_span for s in replay_symbols)})  # fmt: skip
    with DagsterInstance.ephemeral() as instance:
        timed_materialize = timed_materializer(defs, settings.universe(), instance)
        setup_inputs(timed_materialize, upstream, feature_parts)
        timed_materialize([MODELS_ASSET], model_parts, "setup")
    tracking = Tracking(store)
    for s in symbols:
        for h in HORIZON_NAMES:
            name = registered_name(s, h)
            version = max(int(v.version) for v in tracking.client.search_model_versions(f"name = '{name}'"))
            tracking.client.set_registered_model_alias(name, "champion", str(version))  # what a person does
    log(f"setup: {time.perf_counter() - t0:.0f}s")
    return time.perf_counter() - t0


def _trader(symbols, strategy: str):
    from serving.ledger import Ledger
    from serving.replay import replay_trader

    return replay_trader(Ledger.open(), symbols, strategy)


def _ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def bench_ticks(symbols, anchor: date, ticks: int, profile: str | None) -> dict:
    from serving.tick import run_tick

    run = _trader(symbols, "bench-tick")
    t = datetime.combine(anchor + timedelta(days=1), datetime.min.time(), UTC)
    for _ in range(5):  # warm: first loads of the models and the partitions
        t += timedelta(minutes=5)
        run.clock[0] = t
        run_tick(run.trader, t, now=t)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    samples, orders, predictions = [], 0, 0
    for _ in range(ticks):
        t += timedelta(minutes=5)
        run.clock[0] = t
        t0 = time.perf_counter()
        report = run_tick(run.trader, t, now=t)
        samples.append(time.perf_counter() - t0)
        orders += len(report.orders)
        predictions += len(report.predictions)
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    halted = sum(len(h) for h in report.data_halts.values())
    log(f"tick: p50 {_ms(samples, 0.5)} ms, p99 {_ms(samples, 0.99)} ms over {ticks} ticks ({orders} orders, {predictions} predictions)")
    return {"ticks": ticks, "tick_p50_ms": _ms(samples, 0.5), "tick_p99_ms": _ms(samples, 0.99), "tick_max_ms": _ms(samples, 1.0),
            "tick_orders": orders, "tick_predictions": predictions, "tick_model_loads": run.trader.models.loads,
            "last_tick_data_halts": halted}  # fmt: skip


def bench_predict(symbol: str, anchor: date, repeats: int = 2000) -> dict:
    import polars as pl

    from quant_assets.labels.horizons import HORIZON_NAMES
    from quant_assets.models.dataset import design_matrix
    from serving.models import Champion
    from serving.tick import predict

    run = _trader([symbol], "bench-predict")
    t = datetime.combine(anchor + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=12)
    champions = [c for c in run.trader.models.resolve([symbol], list(HORIZON_NAMES)).values() if isinstance(c, Champion)]
    row = run.trader.features.rows([symbol], t).filter(pl.col("symbol") == symbol)
    model = champions[0].model
    x = design_matrix(row, model.input_columns)
    boosters = [model.boosters[h] for h in HORIZON_NAMES if h in model.boosters]  # a short window may leave 7d unfitted

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    bare = best(lambda: [b.predict(x, num_threads=1) for b in boosters])  # one thread, as served
    served = best(lambda: predict(champions, row, "lgbm"))
    both = best(lambda: predict(champions, row, "mean"))
    log(f"predict: served {served * 1e6:.0f} us vs bare boosters {bare * 1e6:.0f} us ({served / bare:.2f}x); both families {both * 1e6:.0f} us")
    return {"predict_served_us": round(served * 1e6, 1), "predict_bare_booster_us": round(bare * 1e6, 1),
            "predict_ratio_vs_booster": round(served / bare, 3), "predict_both_families_us": round(both * 1e6, 1),
            "predict_boosters": len(boosters)}  # fmt: skip


def bench_replay(symbols, anchor: date, days: int) -> dict:
    run = _trader(symbols, "bench-replay")
    start = datetime.combine(anchor + timedelta(days=1), datetime.min.time(), UTC)
    counts = {"orders": 0}
    t0 = time.perf_counter()
    ticks = run.run(start, start + timedelta(days=days), on_tick=lambda r: counts.__setitem__("orders", counts["orders"] + len(r.orders)))
    elapsed = time.perf_counter() - t0
    log(f"replay: {ticks} ticks for {symbols} in {elapsed:.1f}s ({ticks / elapsed:.1f} ticks/s, {counts['orders']} orders)")
    return {"replay_days": days, "replay_symbols": symbols, "replay_ticks": ticks, "replay_s": round(elapsed, 1),
            "replay_ticks_per_s": round(ticks / elapsed, 2), "replay_orders": counts["orders"]}  # fmt: skip


if __name__ == "__main__":
    main()
