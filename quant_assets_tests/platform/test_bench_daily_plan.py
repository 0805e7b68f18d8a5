"""bench_daily_increment's plan of a new day must stay the graph's: every asset, each after
its upstreams, and a floor that mirrors each asset's partition mappings and checks. An asset
added to the Definitions without a place in the plan would make the benchmark's figure
silently incomplete."""

from datetime import date, timedelta

from dagster import AssetKey, DagsterInstance

from benchmarks.bench_daily_increment import day_plan, floor_definitions
from quant_assets import settings
from quant_assets.assets.report import REPORT_ASSET
from quant_assets.definitions import build_definitions
from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import LOOKAHEAD_DAYS
from serving.assets import BOOK_ASSET

DAY = date(2025, 11, 25)


def test_the_plan_holds_every_asset_after_its_upstreams():
    defs = build_definitions()
    plan = [asset for asset, _ in day_plan(DAY, settings.universe())]
    # trading_book reads the ledger the trading ticks write, not the lake: no part of a data day;
    # nor is study_report, one partition per `quant-assets study`
    every = {k.to_user_string() for k in defs.resolve_all_asset_keys()} - {BOOK_ASSET, REPORT_ASSET}
    assert sorted(plan) == sorted(every)
    for i, asset in enumerate(plan):
        for dep in defs.resolve_assets_def(AssetKey(asset)).dependency_keys:
            if dep.to_user_string() == asset:  # oos_eval reads its own previous day: earlier days, same step
                continue
            assert dep.to_user_string() in plan[:i], f"{asset} runs before its upstream {dep.to_user_string()}"


def test_labels_and_their_evaluations_cover_the_days_whose_horizons_the_new_day_completes_and_the_rest_only_the_day():
    universe = settings.universe()
    refilled = {LABELS_ASSET, OOS_ASSET}  # what the automation conditions redo as labels fill in
    for asset, parts in day_plan(DAY, universe):
        days = sorted({p.day for p in parts})
        expected = [DAY - timedelta(days=n) for n in range(LOOKAHEAD_DAYS, -1, -1)] if asset in refilled else [DAY]
        assert days == expected, asset
        assert len(parts) == len(days) * len(universe), asset


def test_the_floor_mirrors_each_assets_partition_mappings_and_checks():
    defs = build_definitions()
    assets = [asset for asset, _ in day_plan(DAY, settings.universe())]
    with DagsterInstance.ephemeral() as instance:
        floor = floor_definitions(defs, instance, assets)
    for asset in assets:
        real = defs.resolve_assets_def(AssetKey(asset))
        mirror = floor.resolve_assets_def(AssetKey(f"floor_{asset}"))
        assert {AssetKey(f"floor_{d.to_user_string()}") for d in real.dependency_keys} == set(mirror.dependency_keys), asset
        for dep in real.dependency_keys:
            assert mirror.get_partition_mapping(AssetKey(f"floor_{dep.to_user_string()}")) == real.get_partition_mapping(dep), (asset, dep)
        real_checks = sorted(s.name for c in defs.asset_checks for s in c.check_specs if s.asset_key == real.key)
        mirror_checks = sorted(s.name for c in floor.asset_checks for s in c.check_specs if s.asset_key == mirror.key)
        assert mirror_checks == [f"floor_{asset}_{name}" for name in real_checks], asset
