"""Blocking checks on feature_matrix: contract, no forward columns, structural as-of,
missing-value policy and prefix invariance.

One op runs all five over the run's staged partitions (they share the reads and the
recompute), reports each as its own blocking check, and publishes the partitions that pass
all five (``quant_assets.assets.checks``). The logic is ``quant_assets.features.audit``,
the same code ``quant-assets audit`` runs on stored partitions.
"""


import os

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, Field, multi_asset_check

from quant_assets.assets.checks import Verdict, gate_name, open_batch, publish_verdicts
from quant_assets.assets.metadata import preview
from quant_assets.features import audit as feature_audit
from quant_assets.features import contract
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

CHECK_DESCRIPTIONS = {
    "contract": "Columns, order and dtypes are the feature contract's; the file records the contract hash and its inputs; t is the day's decision grid.",
    "no_forward_columns": "No label or forward-looking column, and no column outside the contract.",
    "asof": "Structural as-of: for every row and source, the newest available_at used is <= t (and the text projection's fit end too).",
    "missing_policy": "Each feature is null iff its missing flag is set; no NaN/inf; as-of stamps set iff the source was used.",
    "prefix_invariance": (
        "For the first and last rows and a configurable number of random rows, recomputing from inputs "
        f"truncated at t gives the stored row (floats within atol {feature_audit.ATOL:g} + rtol {feature_audit.RTOL:g})."
    ),
}
SAMPLE_ENV = "QUANT_ASSETS_FEATURE_PREFIX_SAMPLES"


@multi_asset_check(
    name=gate_name(contract.FEATURES_ASSET),
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
        "seed": Field(int, default_value=0),
    },
    description="The feature_matrix checks (quant_assets.features.audit), over the run's partitions.",
)
def feature_matrix_checks(context: AssetCheckExecutionContext, lake: LakeResource):
    # The run's staged partitions (read with their recorded, published inputs); once
    # evaluated, those that pass every check are published and the others quarantined.
    batch = open_batch(context, lake, contract.FEATURES_ASSET)
    config = context.op_execution_context.op_config or {}
    sample = config.get("prefix_samples", str(feature_audit.DEFAULT_SAMPLE))
    sample = "all" if sample == "all" else int(sample)
    reports = list(
        feature_audit.audit_lake(batch.store, batch.parts, sample=sample, seed=config.get("seed", 0), now=utc_now())
    )
    verdicts = {f"feature_matrix_{name}": _verdict(name, reports, sample) for name in feature_audit.CHECKS}
    yield from publish_verdicts(batch, verdicts, set(verdicts))


def _verdict(name: str, reports: list, sample) -> Verdict:
    rows = sum(r.rows for r in reports)
    recomputed = sum(r.recomputed for r in reports)
    found = [v for r in reports for v in r.violations if v.check == name]
    total = sum(r.counts.get(name, 0) for r in reports)
    failing = sorted({str(r.partition) for r in reports if r.counts.get(name, 0)})
    table = pl.DataFrame(
        [v.as_dict() for v in found],
        schema={k: pl.String for k in ("check", "partition", "t", "feature", "stored", "expected", "detail")},
    ).drop("check")
    first = found[0].line() if found else ""
    return Verdict(
        passed=total == 0,
        description=f"{name}: ok" if total == 0 else f"{name}: {total} violations in {len(failing)} partitions; first: {first}",
        metadata={
            "partitions_checked": len(reports),
            "rows_checked": rows,
            "rows_recomputed": recomputed,
            "prefix_samples": str(sample),
            "violations": total,
                "violations_preview": preview(table, rows=20),
            "contract_hash": contract.CONTRACT_HASH,
        },
        failing={
            r.partition: next((v.line() for v in r.violations if v.check == name), f"{name}: {r.counts[name]} violations")
            for r in reports
            if r.counts.get(name, 0)
        },
    )
