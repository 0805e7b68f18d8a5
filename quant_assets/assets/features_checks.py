"""Blocking checks on feature_matrix: contract, no forward columns, structural as-of, as-of
re-derived from the recorded inputs, missing-value policy and prefix invariance.

One op runs all six over the run's partitions (they share the reads and the recompute)
and reports each as its own blocking check. The logic is ``quant_assets.features.audit``,
the same code ``quant-assets audit`` runs on stored partitions.
"""


import os

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    Field,
    multi_asset_check,
)

from quant_assets.assets.checks import run_partitions
from quant_assets.assets.metadata import preview
from quant_assets.features import audit as feature_audit
from quant_assets.features import contract
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

CHECK_DESCRIPTIONS = {
    "contract": "Columns, order and dtypes are the feature contract's; the file records the contract hash and its inputs; t is the day's decision grid.",
    "no_forward_columns": "No label or forward-looking column, and no column outside the contract.",
    "asof": "Structural as-of: for every row and source, the newest available_at used is <= t (and the text projection's fit end too).",
    "asof_inputs": (
        "Re-derived as-of: on every row, the as-of stamps and the one-record values (funding, basis, long/short, "
        "projection fit end) are those of the newest record with available_at <= t in the partition's recorded inputs."
    ),
    "missing_policy": "Each feature is null iff its missing flag is set; no NaN/inf; as-of stamps set iff the source was used.",
    "prefix_invariance": (
        "For the first and last rows and a configurable number of random rows, recomputing from inputs "
        f"truncated at t gives the stored row (floats within atol {feature_audit.ATOL:g} + rtol {feature_audit.RTOL:g})."
    ),
}
SAMPLE_ENV = "QUANT_ASSETS_FEATURE_PREFIX_SAMPLES"


@multi_asset_check(
    specs=[
        AssetCheckSpec(f"feature_matrix_{name}", asset=contract.FEATURES_ASSET, blocking=True, description=CHECK_DESCRIPTIONS[name])
        for name in feature_audit.CHECKS
    ],
    config_schema={
        "prefix_samples": Field(
            str,
            default_value=os.environ.get(SAMPLE_ENV, str(feature_audit.DEFAULT_SAMPLE)),
            description="random rows per partition recomputed besides the first and last, or 'all'",
        ),
        "seed": Field(
            int,
            is_required=False,
            description="seed of the random rows; unset, a fresh one is drawn per run (and recorded in the metadata)",
        ),
    },
    description="The feature_matrix checks (quant_assets.features.audit), over the run's partitions.",
)
def feature_matrix_checks(context: AssetCheckExecutionContext, lake: LakeResource):
    parts = run_partitions(context)
    config = context.op_execution_context.op_config or {}
    sample = config.get("prefix_samples", str(feature_audit.DEFAULT_SAMPLE))
    sample = "all" if sample == "all" else int(sample)
    seed = config["seed"] if "seed" in config else feature_audit.draw_seed()
    reports = list(feature_audit.audit_lake(lake.lake(), parts, sample=sample, seed=seed, now=utc_now()))
    # an upstream partition rewritten between the build and its checks: the recompute would
    # compare with other inputs, so the row checks that need the inputs cannot pass
    changed = [f"{r.partition}: {'; '.join(r.inputs_changed)}" for r in reports if r.inputs_changed]
    rows = sum(r.rows for r in reports)
    recomputed = sum(r.recomputed for r in reports)
    for name in feature_audit.CHECKS:
        found = [v for r in reports for v in r.violations if v.check == name]
        total = sum(r.counts.get(name, 0) for r in reports)
        failing = sorted({str(r.partition) for r in reports if r.counts.get(name, 0)})
        table = pl.DataFrame(
            [v.as_dict() for v in found],
            schema={k: pl.String for k in ("check", "partition", "t", "feature", "stored", "expected", "detail")},
        ).drop("check")
        first = found[0].line() if found else ""
        unverified = changed if name in feature_audit.INPUT_CHECKS else []
        verdicts = [f"{total} violations in {len(failing)} partitions; first: {first}"] if total else []
        if unverified:
            verdicts.append(f"inputs changed since build, not verified: {', '.join(unverified[:3])}")
        description = f"{name}: {'; '.join(verdicts) or 'ok'}"
        yield AssetCheckResult(
            check_name=f"feature_matrix_{name}",
            asset_key=contract.FEATURES_ASSET,
            passed=total == 0 and not unverified,
            severity=AssetCheckSeverity.ERROR,
            description=description,
            metadata={
                "partitions_checked": len(reports),
                "rows_checked": rows,
                "rows_recomputed": recomputed,
                "prefix_samples": str(sample),
                "prefix_seed": seed,
                "partitions_inputs_changed": len(changed),
                "violations": total,
                "failing_partitions": ", ".join(failing[:50]) or "none",
                "violations_preview": preview(table, rows=20),
                "contract_hash": contract.CONTRACT_HASH,
            },
        )
