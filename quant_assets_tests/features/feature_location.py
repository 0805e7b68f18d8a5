"""A Dagster code location for feature tests: the real feature_matrix asset and checks over
upstream partitions written straight into a temporary lake (the upstream assets are
external specs here, partitioned like the real ones, so the partition mapping is real)."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetCheckKey, AssetKey, AssetSpec, DagsterInstance, Definitions

from quant_assets import settings
from quant_assets.assets.features import feature_matrix
from quant_assets.assets.features_checks import feature_matrix_checks
from quant_assets.features.audit import CHECKS
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.features.inputs import UPSTREAM
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, days_between
from quant_assets.resources.lake import LakeResource
from quant_assets.runs import materialize, partition_ranges
from quant_assets_tests.checkresults import checks_over


def definitions(lake_root: str) -> Definitions:
    specs = [AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in UPSTREAM]
    return Definitions(
        assets=[*specs, feature_matrix],
        asset_checks=[feature_matrix_checks],
        resources={"lake": LakeResource(root=lake_root)},
    )


def parts(days, symbols) -> list[DaySymbol]:
    return [DaySymbol(d, s) for d in days_between(*days) for s in symbols]


def run_features(lake_root: str, days, symbols, instance: DagsterInstance | None = None):
    """Materialize feature_matrix (with its blocking checks) for days x symbols; one result per run."""
    instance = instance or DagsterInstance.ephemeral()
    return materialize(definitions(lake_root), [FEATURES_ASSET], parts(days, symbols), settings.universe(), instance)


def check_results(results, instance: DagsterInstance | None = None) -> dict[str, object]:
    """check name -> AssetCheckEvaluation, over all runs (a later run overrides); with the
    instance, also those a step that held partitions back recorded there."""
    return checks_over(results, instance)


def run_checks(lake_root: str, part: DaySymbol, instance: DagsterInstance, config: dict | None = None) -> dict[str, object]:
    """The blocking feature checks alone over one stored partition (no materialization):
    check name -> AssetCheckEvaluation."""
    job = definitions(lake_root).resolve_implicit_global_asset_job_def()
    keys = {AssetCheckKey(AssetKey(FEATURES_ASSET), f"feature_matrix_{c}") for c in CHECKS}
    only_checks = job.get_subset(asset_selection=set(), asset_check_selection=keys)
    (rect,) = partition_ranges([part], settings.universe())
    run = only_checks.execute_in_process(
        instance=instance,
        tags=rect.tags,
        run_config={"ops": {"feature_matrix_checks": {"config": config or {}}}},
        raise_on_error=False,
    )
    return {ev.check_name: ev for ev in run.get_asset_check_evaluations()}


def built_lake(root: str, run_days, instance: DagsterInstance, prepare=None) -> str:
    """The real upstream slice in a lake at ``root`` (``prepare(store)`` may edit it), with
    the features of ``run_days`` materialized and every check passing."""
    from quant_assets_tests.features import realdata

    store = realdata.write_lake(root, days=realdata.OCT)
    if prepare is not None:
        prepare(store)
    results = run_features(root, run_days, realdata.SYMBOLS, instance)
    assert all(ev.passed for ev in check_results(results).values())
    return root


def copy_lake(source: str, tmp_path: Path) -> str:
    """A private copy of a lake, for a test that edits it."""
    root = str(tmp_path / "lake")
    shutil.copytree(source, root)
    return root
