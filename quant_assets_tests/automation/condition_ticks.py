"""Helpers for the automation tests: partition keys, runless materializations, the code location."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from dagster import AssetKey, AssetMaterialization, DagsterInstance

from quant_assets.partitions import DaySymbol

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]  # conftest's universe


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def keys(first: date, last: date, symbols=SYMBOLS) -> set[str]:
    """Dagster partition keys ``day|symbol`` of days ``first..last`` for ``symbols``."""
    return {str(DaySymbol(day, s)) for day in days(first, last) for s in symbols}


def report(instance: DagsterInstance, assets: list[str], first: date, last: date, symbols=SYMBOLS) -> None:
    """Record materializations of ``assets`` for days ``first..last``, as a run would (no data)."""
    for asset in assets:
        for key in sorted(keys(first, last, symbols)):
            instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=key))


def requested(result, asset: str) -> set[str]:
    return set(result.get_requested_partitions(AssetKey(asset)))


def definitions():
    """The code location's definitions, built now from the test's environment."""
    from quant_assets.definitions import build_definitions

    return build_definitions()


def stand_ins(defs) -> list:
    """Every asset of ``defs`` as a no-op stand-in with the same key, partitions, deps (with
    their partition mappings) and automation condition: the real graph, without the data work."""
    from dagster import BackfillPolicy, MaterializeResult, multi_asset

    def stand_in(spec):
        @multi_asset(specs=[spec], name=f"stand_in_{spec.key.to_python_identifier()}", backfill_policy=BackfillPolicy.single_run())
        def _asset():
            return MaterializeResult(asset_key=spec.key)

        return _asset

    return [stand_in(spec) for assets_def in defs.assets for spec in assets_def.specs]


def run_requested(assets: list, instance: DagsterInstance, result) -> int:
    """Launch what a tick requested, roughly as the daemon groups it: assets requested for the
    same partitions in one run, one run per partition rectangle. Returns the number of runs."""
    from dagster import materialize

    from quant_assets.partitions import parse_keys
    from quant_assets.runs import partition_ranges

    groups: dict[frozenset, list[str]] = {}
    for assets_def in assets:
        for key in assets_def.keys:
            parts = frozenset(result.get_requested_partitions(key))
            if parts:
                groups.setdefault(parts, []).append(key.to_user_string())
    runs = 0
    for parts, names in groups.items():
        if not any("|" in p for p in parts):  # a day-only asset (trading_book): one run per day
            for day in sorted(parts):
                assert materialize(assets, selection=names, instance=instance, partition_key=day).success
                runs += 1
            continue
        for rect in partition_ranges(parse_keys(parts), SYMBOLS):
            outcome = materialize(assets, selection=names, instance=instance, tags=rect.tags)
            assert outcome.success
            runs += 1
    return runs


def walk(defs, assets, instance: DagsterInstance, cursor, start: datetime, max_ticks: int = 10) -> list:
    """Tick, run what was requested, tick again (a minute later), until a tick requests nothing;
    returns every tick's result (the last requested nothing)."""
    from dagster import evaluate_automation_conditions

    ticks = []
    for i in range(max_ticks):
        tick = evaluate_automation_conditions(defs, instance, evaluation_time=start + timedelta(minutes=i), cursor=cursor)
        ticks.append(tick)
        if tick.total_requested == 0:
            return ticks
        run_requested(assets, instance, tick)
        cursor = tick.cursor
    raise AssertionError(f"still requesting after {max_ticks} ticks: the conditions fire every tick")


def all_requested(ticks, asset: str) -> set[str]:
    return set().union(*(requested(t, asset) for t in ticks))
