"""gate_verdict through Dagster: the real model of day D (fitted, logged and registered in a
real MLflow store, its blocking checks run) and 40 planted oos_eval days (every servable
family, the ablations and the portfolio) whose lgbm/4h series is good, judged over the
trailing window with the checks read from the instance, then audited by gate_verdict's own
blocking checks before anything is published.

- a sound model: of the 40 stored days, the 33 complete at D 00:00 are the evidence; lgbm/4h
  (the served family) passes and `challenger` lands on its 4h version with the verdict as
  tags (an ablation's pass moving nothing: test_gate_aliases); the portfolio failed, so `model promote`
  refuses the challenger without --force; no `champion` is ever set. Judged again after the
  last week's labels all came in (a later clock), the partition is the same, byte for byte;
- a verdict computed late, counting day D-1 whose 7d labels came after D: its blocking
  checks fail it;
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
from dagster import AssetCheckKey, AssetCheckResult, AssetKey, AssetRecordsFilter, AssetSpec, BackfillPolicy, Definitions, asset, asset_check
from mlflow.exceptions import MlflowException

from quant_assets import settings
from quant_assets.assets.gate import EVIDENCE, SERVED, build_gate_asset
from quant_assets.assets.gate_checks import CHECKS as GATE_CHECKS
from quant_assets.assets.gate_checks import gate_verdict_checks
from quant_assets.assets.labels import labels as labels_asset
from quant_assets.assets.labels_checks import labels_checks
from quant_assets.assets.models import build_model_asset
from quant_assets.assets.models_checks import model_checks
from quant_assets.assets.report import REPORT_ASSET
from quant_assets.cli.demo import _direct_deps, _downstream_of
from quant_assets.definitions import build_definitions
from quant_assets.evaluation import gate_window
from quant_assets.evaluation.completeness import verdict_cutoff
from quant_assets.evaluation.gate import Thresholds
from quant_assets.evaluation.gate_window import GATE_ASSET, PORTFOLIO
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
from quant_assets.runs import partition_ranges
from quant_assets_tests import fitted_models
from quant_assets_tests.evaluation.planted_oos_days import SERVABLE, known_at, planted_day
from quant_assets_tests.models.test_model_asset import FIRST, LABEL_DAYS, LAST
from quant_assets_tests.models.test_planted_leaks import _no_embargo

D = date(2025, 11, 10)
EVIDENCE_DAYS = (FIRST, D - timedelta(days=1))  # 40 days stored before D; FIRST..D-8 complete at D 00:00
COMPLETE_AT_D = (D - timedelta(days=8) - FIRST).days + 1  # 33
GOOD = {("lgbm", "4h"): 0.5}  # the served family, on 4h
PORTFOLIO_SKILL = 0.1  # the combined book: no better than noise, it fails
STORED_AS_OF = "PLANTED_OOS_AS_OF"  # env: oos_eval rows as stored at that ISO moment (labels after it unknown)


@asset(name=OOS_ASSET, partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run())
def planted_oos(context, lake: LakeResource) -> None:
    """Stands in for oos_eval: planted rows in its schema (good lgbm/4h, noise elsewhere), as
    stored at ``$PLANTED_OOS_AS_OF`` when set."""
    import os
    from datetime import datetime

    moment = os.environ.get(STORED_AS_OF)
    for part in parse_keys(context.partition_keys):
        rows = planted_day(part.day, GOOD, 0.1, families=SERVABLE, portfolio=PORTFOLIO_SKILL)
        lake.lake().write(OOS_ASSET, part, known_at(rows, datetime.fromisoformat(moment)) if moment else rows)


@asset_check(asset=OOS_ASSET, blocking=True, description="every partition of the run is in the lake")
def planted_oos_stored(context, lake: LakeResource) -> AssetCheckResult:
    parts = parse_keys(context.op_execution_context.partition_keys)
    return AssetCheckResult(passed=all(lake.lake().exists(OOS_ASSET, p) for p in parts))


def _definitions(home) -> Definitions:
    specs = [AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in (BARS_ASSET, FEATURES_ASSET)]
    gate = build_gate_asset(Thresholds(), leakage_assets={MODELS_ASSET: SERVED, OOS_ASSET: EVIDENCE})
    return Definitions(
        assets=[*specs, labels_asset, build_model_asset(fitted_models.TRAIN_DAYS, fitted_models.REFIT_DAYS), planted_oos, gate],
        asset_checks=[labels_checks, model_checks, planted_oos_stored, gate_verdict_checks],
        resources={
            "lake": LakeResource(root=str(home / "lake")),
            "mlflow_tracking": fitted_models.mlflow_resource(home),
            "model_training": fitted_models.FAST,
        },
    )


def _judge(home, instance, monkeypatch, leaky: bool, evidence_days=EVIDENCE_DAYS):
    """Labels, the model of D (leaky or not), the planted evidence, then the gate on D; the
    evidence as oos_eval stored it on D (the last week's longer labels not in yet)."""
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    monkeypatch.setenv(STORED_AS_OF, verdict_cutoff(D).isoformat())
    defs = _definitions(home)
    assert all(r.success for r in fitted_models.run(defs, [LABELS_ASSET], min(FIRST, LABEL_DAYS[0]), D - timedelta(days=1), instance))
    if leaky:
        monkeypatch.setattr(plan, "fit_window", _no_embargo)
    fitted_models.run(defs, [MODELS_ASSET], D, D, instance)  # a leaky model's blocking check fails the run
    assert all(r.success for r in fitted_models.run(defs, [OOS_ASSET], *evidence_days, instance))
    results = fitted_models.run(defs, [GATE_ASSET], D, D, instance)
    assert all(r.success for r in results)
    assert {k: v.passed for k, v in fitted_models.checks_of(results).items() if k in GATE_CHECKS} == {k: True for k in GATE_CHECKS}
    store = ParquetLake(str(home / "lake"))
    part = DaySymbol(D, fitted_models.SYMBOL)
    # A model day that failed its checks is quarantined (write-audit-publish): no record to read.
    record = store.read(MODELS_ASSET, part).row(0, named=True) if store.exists(MODELS_ASSET, part) else None
    return store.read(GATE_ASSET, part), record, fitted_models.mlflow_resource(home).tracking().client


def _alias(client, horizon, alias):
    try:
        return str(client.get_model_version_by_alias(registered_name(fitted_models.SYMBOL, horizon), alias).version)
    except MlflowException:
        return None


@pytest.fixture
def home(tmp_path, seed_cache):
    home = tmp_path / "home"
    fitted_models.copy_lake(fitted_models.seeded_lake(seed_cache, FIRST, LAST), home)
    return home


def test_the_served_family_passes_sets_challenger_and_a_failed_portfolio_blocks_promotion(home, fresh_instance, monkeypatch):
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=False)
    assert table.height == 5 * 4 + 1 and set(table["completed_days"]) == {COMPLETE_AT_D}
    assert max(table["evidence_days"][0]) == D - timedelta(days=8), "the newest day whose 7d labels were known at D 00:00"
    passed = table.filter("passed")
    assert passed.select("family", "horizon").rows() == [("lgbm", "4h")]
    assert "PASS leakage" in passed["reasons"][0] and passed["failing_partitions"][0] == ""
    lgbm = table.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")).row(0, named=True)
    assert lgbm["sharpe_ci_low"] < lgbm["daily_sharpe"] < lgbm["sharpe_ci_high"] and lgbm["n_trials"] == 21 + COMPLETE_AT_D - 1
    version = json.loads(record["versions"])["4h"]
    assert _alias(client, "4h", CHALLENGER) == version
    tags = client.get_model_version(registered_name(fitted_models.SYMBOL, "4h"), version).tags
    assert tags[aliases.VERDICT_TAG] == "PASS" and tags[aliases.VERDICT_DAY_TAG] == str(D) and tags[aliases.VERDICT_FAMILIES_TAG] == "lgbm"
    assert "PASS deflated Sharpe" in tags[aliases.VERDICT_REASONS_TAG]
    assert {h: _alias(client, h, CHALLENGER) for h in HORIZON_NAMES if h != "4h"} == {"1h": None, "1d": None, "7d": None}
    assert not table.filter(pl.col("family") == PORTFOLIO)["passed"].any()
    assert {tags[aliases.PORTFOLIO_TAG], tags[aliases.PORTFOLIO_DAY_TAG]} == {"FAIL", str(D)}
    with pytest.raises(aliases.Refused, match="portfolio verdict failed"):
        aliases.promote(client, fitted_models.SYMBOL, "4h", version=None, force=False, reason=None, by="test")
    assert {h: _alias(client, h, CHAMPION) for h in HORIZON_NAMES} == {h: None for h in HORIZON_NAMES}
    # A later clock: the last week's labels are all in and oos_eval stored again; D's verdict is unchanged.
    monkeypatch.delenv(STORED_AS_OF)
    defs = _definitions(home)
    assert all(r.success for r in fitted_models.run(defs, [OOS_ASSET], *EVIDENCE_DAYS, fresh_instance))
    results = fitted_models.run(defs, [GATE_ASSET], D, D, fresh_instance)
    assert all(r.success for r in results) and all(v.passed for v in fitted_models.checks_of(results).values())
    part = DaySymbol(D, fitted_models.SYMBOL)
    store = ParquetLake(str(home / "lake"))
    last = store.read(OOS_ASSET, DaySymbol(D - timedelta(days=1), fitted_models.SYMBOL)).filter(pl.col("family") != PORTFOLIO)
    assert last["label"].null_count() == 0, "a later clock: every label of the last day is in"
    later = store.read(GATE_ASSET, part)
    assert later.equals(table) and later.write_ipc(None).getvalue() == table.write_ipc(None).getvalue()


def _audit(home, instance) -> dict:
    """gate_verdict's blocking checks alone over the published partition of D."""
    job = _definitions(home).resolve_implicit_global_asset_job_def()
    only_checks = job.get_subset(asset_selection=set(), asset_check_selection={AssetCheckKey(AssetKey(GATE_ASSET), c) for c in GATE_CHECKS})
    (rect,) = partition_ranges([DaySymbol(D, fitted_models.SYMBOL)], settings.universe())
    run = only_checks.execute_in_process(instance=instance, tags=rect.tags, raise_on_error=False)
    return {ev.check_name: ev for ev in run.get_asset_check_evaluations()}


def test_a_verdict_computed_late_that_counts_day_d_minus_1_fails_its_blocking_checks(home, fresh_instance, monkeypatch):
    table, _, _ = _judge(home, fresh_instance, monkeypatch, leaky=False)
    monkeypatch.delenv(STORED_AS_OF)
    defs = _definitions(home)
    assert all(r.success for r in fitted_models.run(defs, [OOS_ASSET], *EVIDENCE_DAYS, fresh_instance))  # every label in
    store = ParquetLake(str(home / "lake"))
    part = DaySymbol(D, fitted_models.SYMBOL)
    rows = {d: store.read(OOS_ASSET, DaySymbol(d, fitted_models.SYMBOL)) for d in gate_window.window_days(D, 60, FIRST)
            if store.exists(OOS_ASSET, DaySymbol(d, fitted_models.SYMBOL))}  # fmt: skip
    # What the wall-clock rule gave when the gate re-ran D on D+9: every stored day complete by then.
    late = gate_window.verdicts(rows, (table["window_start"][0], D + timedelta(days=9)), [], Thresholds(), configurations=1)
    late = late.with_columns(window_end=pl.lit(D))
    assert D - timedelta(days=1) in late["evidence_days"][0] and late["completed_days"][0] == 40
    store.write(GATE_ASSET, part, late)
    audit = _audit(home, fresh_instance)
    assert not audit["gate_verdict_evidence_known"].passed and not audit["gate_verdict_reproduces"].passed
    known = audit["gate_verdict_evidence_known"].metadata["first_problems"].value.splitlines()
    assert len(known) == 7, "D-7..D-1: the seven days counted whose labels came after D 00:00"
    assert known[0].endswith(
        f"evidence day {D - timedelta(days=7)} was complete only at {D + timedelta(days=1)} 00:00, after the verdict's {D} 00:00"
    )
    # the labels of D-1 are not all in even now (the seeded bars end before its 7d labels): never complete by D
    assert known[-1].endswith(f"evidence day {D - timedelta(days=1)} has no complete labels partition: not known at {D} 00:00")
    store.write(GATE_ASSET, part, table)  # the honest verdict passes the same audit
    assert all(ev.passed for ev in _audit(home, fresh_instance).values())


def test_a_leaky_model_with_good_metrics_is_refused_by_the_leakage_gate(home, fresh_instance, monkeypatch):
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=True)
    store = ParquetLake(str(home / "lake"))
    assert record is None and store.quarantined(MODELS_ASSET) == [DaySymbol(D, fitted_models.SYMBOL)], "the leaky model is never published"
    row = table.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")).row(0, named=True)
    failures = [r for r in row["reasons"].splitlines() if r.startswith("FAIL")]
    assert not row["passed"] and len(failures) == 1, "the metrics look good: only the leakage gate refuses"
    # model_embargo fails, and model_cv_purged with it: folds cut from a window without embargo
    assert failures[0].startswith(f"FAIL leakage: upstream blocking checks failed: {MODELS_ASSET} {D}|{fitted_models.SYMBOL}: ")
    assert "model_embargo" in failures[0].split(" (run")[0]
    assert not table["passed"].any()
    assert {h: (_alias(client, h, CHALLENGER), _alias(client, h, CHAMPION)) for h in HORIZON_NAMES} == {h: (None, None) for h in HORIZON_NAMES}


def test_a_sound_model_over_too_few_days_fails_for_lack_of_evidence_and_says_so(home, fresh_instance, monkeypatch):
    evidence_days = (D - timedelta(days=12), D - timedelta(days=1))  # D-12..D-8 complete at D 00:00
    table, record, client = _judge(home, fresh_instance, monkeypatch, leaky=False, evidence_days=evidence_days)
    assert set(table["completed_days"]) == {5} and not table["passed"].any()
    row = table.filter((pl.col("family") == "lgbm") & (pl.col("horizon") == "4h")).row(0, named=True)
    lines = row["reasons"].splitlines()
    assert lines[0].startswith("FAIL evidence: too little evidence: 5 completed days (min 30)")
    assert lines[1].startswith("PASS leakage"), "the model is sound: evidence, not leakage, refuses it"
    key = DaySymbol(D, fitted_models.SYMBOL).dagster_key
    [found] = fresh_instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(GATE_ASSET), asset_partitions=[key]), limit=1).records
    metadata = found.asset_materialization.metadata
    assert metadata["passed"].value == "none" and metadata["served_passed"].value == "none"
    assert metadata["served_family"].value == "lgbm" and metadata["portfolio"].value.startswith("FAIL")
    assert "**lgbm/4h**" in metadata["reasons"].value and "FAIL evidence: too little evidence: 5 completed days" in metadata["reasons"].value
    assert {h: (_alias(client, h, CHALLENGER), _alias(client, h, CHAMPION)) for h in HORIZON_NAMES} == {h: (None, None) for h in HORIZON_NAMES}


def test_the_demo_runs_gate_verdict_in_its_model_step():
    """The demo runs the model asset and everything downstream of it together, on the servable days."""
    defs = build_definitions()
    # as the demo does, without study_report (one partition per `quant-assets study`, not a day)
    rest = [k.to_user_string() for k in defs.resolve_all_asset_keys() if k.to_user_string() != REPORT_ASSET]
    assert _downstream_of(MODELS_ASSET, _direct_deps(defs, rest)) == {MODELS_ASSET, OOS_ASSET, GATE_ASSET}
