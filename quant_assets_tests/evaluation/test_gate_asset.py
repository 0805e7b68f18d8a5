"""gate_verdict through Dagster: the real model of day D (fitted, logged and registered in a
real MLflow store, its blocking checks run) and 40 planted oos_eval days whose lgbm/4h
series is good, judged over the trailing window with the checks read from the instance.

- a sound model: lgbm/4h passes, `challenger` lands on its 4h version with the verdict as
  tags, and no `champion` is ever set;
- the same good metrics behind a model trained without an embargo (its model_embargo check
  fails): refused by the leakage gate alone, naming the partition, and no alias moves;
- the sound model on the same good series evaluated over only five days: a FAIL for lack
  of evidence, said in the partition's Dagster metadata, and no alias moves;
- and the demo runs gate_verdict in its model step (the days a model can serve).
"""

import json
from datetime import date, timedelta

import polars as pl
import pytest
from dagster import AssetCheckResult, AssetKey, AssetRecordsFilter, AssetSpec, BackfillPolicy, Definitions, asset, asset_check
from mlflow.exceptions import MlflowException

from quant_assets.assets.gate import EVIDENCE, SERVED, build_gate_asset
from quant_assets.assets.report import REPORT_ASSET
from quant_assets.assets.labels import labels as labels_asset
from quant_assets.assets.labels_checks import labels_checks
from quant_assets.assets.models import build_model_asset
from quant_assets.assets.models_checks import model_checks
from quant_assets.cli.demo import _direct_deps, _downstream_of
from quant_assets.definitions import build_definitions
from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import GATE_ASSET
from quant_assets.evaluation.oos import OOS_ASSET
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.labels.horizons import HORIZON_NAMES
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.models import plan
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions, parse_keys
from quant_assets.registry import aliases
from quant_assets.registry.names import CHALLENGER, CHAMPION, registered_name
from quant_assets.resources.lake import LakeResource
from quant_assets_tests import modelkit
from quant_assets_tests.evaluation.gatekit import planted_day
from quant_assets_tests.models.test_model_asset import FIRST, LABEL_DAYS, LAST
from quant_assets_tests.models.test_planted_leaks import _no_embargo

D = date(2025, 11, 10)
EVIDENCE_DAYS = (FIRST, D - timedelta(days=1))  # 40 complete days before D
GOOD = {("lgbm", "4h"): 0.5}


@asset(name=OOS_ASSET, partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run())
def planted_oos(context, lake: LakeResource) -> None:
    """Stands in for oos_eval: planted rows in its schema (good lgbm/4h, noise elsewhere)."""
    for part in parse_keys(context.partition_keys):
        lake.lake().write(OOS_ASSET, part, planted_day(part.day, GOOD, 0.1))


@asset_check(asset=OOS_ASSET, blocking=True, description="every partition of the run is in the lake")
def planted_oos_stored(context, lake: LakeResource) -> AssetCheckResult:
    parts = parse_keys(context.op_execution_context.partition_keys)
    return AssetCheckResult(passed=all(lake.lake().exists(OOS_ASSET, p) for p in parts))


def _definitions(home) -> Definitions:
    specs = [AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in (BARS_ASSET, FEATURES_ASSET)]
    gate = build_gate_asset(Thresholds(), leakage_assets={MODELS_ASSET: SERVED, OOS_ASSET: EVIDENCE})
    return Definitions(
        assets=[*specs, labels_asset, build_model_asset(modelkit.TRAIN_DAYS, modelkit.REFIT_DAYS), planted_oos, gate],
        asset_checks=[labels_checks, model_checks, planted_oos_stored],
        resources={"lake": LakeResource(root=str(home / "lake")), "mlflow_tracking": modelkit.mlflow_resource(home), "model_training": modelkit.FAST},
    )


def _judge(home, instance, monkeypatch, leaky: bool, evidence_days=EVIDENCE_DAYS):
    """Labels, the model of D (leaky or not), the planted evidence, then the gate on D."""
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    defs = _definitions(home)
    assert all(r.success for r in modelkit.run(defs, [LABELS_ASSET], *LABEL_DAYS, instance))
    if leaky:
        monkeypatch.setattr(plan, "fit_window", _no_embargo)
    modelkit.run(defs, [MODELS_ASSET], D, D, instance)  # a leaky model's blocking check fails the run
    assert all(r.success for r in modelkit.run(defs, [OOS_ASSET], *evidence_days, instance))
    results = modelkit.run(defs, [GATE_ASSET], D, D, instance)
    assert all(r.success for r in results)
    store = ParquetLake(str(home / "lake"))
    part = DaySymbol(D, modelkit.SYMBOL)
    # A model day that failed its checks is quarantined (write-audit-publish): no record to read.
    record = store.read(MODELS_ASSET, part).row(0, named=True) if store.exists(MODELS_ASSET, part) else None
    return store.read(GATE_ASSET, part), record, modelkit.mlflow_resource(home).tracking().client


def _alias(client, horizon, alias):
    try:
        return str(client.get_model_version_by_alias(registered_name(modelkit.SYMBOL, horizon), alias).version)
    except MlflowException:
        return None


@pytest.fixture
def home(tmp_path, seed_cache):
    home = tmp_path / "home"
    modelkit.copy_lake(modelkit.seeded_lake(seed_cache, FIRST, LAST), home)
    return home


def test_a_passing_verdict_sets_challenger_and_never_champion(home, fresh_instance, monkeypatch):
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=False)
    assert table.height == 8 and set(table["completed_days"]) == {40}
    passed = table.filter("passed")
    assert passed.select("family", "horizon").rows() == [("lgbm", "4h")]
    assert "PASS leakage" in passed["reasons"][0] and passed["failing_partitions"][0] == ""
    version = json.loads(record["versions"])["4h"]
    assert _alias(client, "4h", CHALLENGER) == version
    tags = client.get_model_version(registered_name(modelkit.SYMBOL, "4h"), version).tags
    assert tags[aliases.VERDICT_TAG] == "PASS" and tags[aliases.VERDICT_DAY_TAG] == str(D) and tags[aliases.VERDICT_FAMILIES_TAG] == "lgbm"
    assert "PASS deflated Sharpe" in tags[aliases.VERDICT_REASONS_TAG]
    assert {h: _alias(client, h, CHALLENGER) for h in HORIZON_NAMES if h != "4h"} == {"1h": None, "1d": None, "7d": None}
    assert {h: _alias(client, h, CHAMPION) for h in HORIZON_NAMES} == {h: None for h in HORIZON_NAMES}


def test_a_leaky_model_with_good_metrics_is_refused_by_the_leakage_gate(home, fresh_instance, monkeypatch):
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=True)
    store = ParquetLake(str(home / "lake"))
    assert record is None and store.quarantined(MODELS_ASSET) == [DaySymbol(D, modelkit.SYMBOL)], "the leaky model is never published"
    row = table.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")).row(0, named=True)
    failures = [r for r in row["reasons"].splitlines() if r.startswith("FAIL")]
    assert not row["passed"] and len(failures) == 1, "the metrics look good: only the leakage gate refuses"
    # model_embargo fails, and model_cv_purged with it: folds cut from a window without embargo
    assert failures[0].startswith(f"FAIL leakage: upstream blocking checks failed: {MODELS_ASSET} {D}|{modelkit.SYMBOL}: ")
    assert "model_embargo" in failures[0].split(" (run")[0]
    assert not table["passed"].any()
    assert {h: (_alias(client, h, CHALLENGER), _alias(client, h, CHAMPION)) for h in HORIZON_NAMES} == {h: (None, None) for h in HORIZON_NAMES}


def test_a_sound_model_over_too_few_days_fails_for_lack_of_evidence_and_says_so(home, fresh_instance, monkeypatch):
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=False, evidence_days=(D - timedelta(days=5), D - timedelta(days=1)))
    assert set(table["completed_days"]) == {5} and not table["passed"].any()
    row = table.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")).row(0, named=True)
    lines = row["reasons"].splitlines()
    assert lines[0].startswith("FAIL evidence: too little evidence: 5 completed days (min 30)")
    assert lines[1].startswith("PASS leakage"), "the model is sound: evidence, not leakage, refuses it"
    key = DaySymbol(D, modelkit.SYMBOL).dagster_key
    [found] = fresh_instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(GATE_ASSET), asset_partitions=[key]), limit=1).records
    metadata = found.asset_materialization.metadata
    assert metadata["passed"].value == "none" and metadata["challenger_set"].value == "none"
    assert "**lgbm/4h**" in metadata["reasons"].value and "FAIL evidence: too little evidence: 5 completed days" in metadata["reasons"].value
    assert {h: (_alias(client, h, CHALLENGER), _alias(client, h, CHAMPION)) for h in HORIZON_NAMES} == {h: (None, None) for h in HORIZON_NAMES}


def test_the_demo_runs_gate_verdict_in_its_model_step():
    """The demo runs the model asset and everything downstream of it together, on the servable days."""
    defs = build_definitions()
    # as the demo does, without study_report (one partition per `quant-assets study`, not a day)
    rest = [k.to_user_string() for k in defs.resolve_all_asset_keys() if k.to_user_string() != REPORT_ASSET]
    assert _downstream_of(MODELS_ASSET, _direct_deps(defs, rest)) == {MODELS_ASSET, OOS_ASSET, GATE_ASSET}
