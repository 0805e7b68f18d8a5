"""Blocking checks on feature_matrix: contract, no forward columns, structural as-of, as-of
re-derived from the recorded inputs, missing-value policy and prefix invariance.

One op runs all six over the run's staged partitions (they share the reads and the
recompute), reports each as its own blocking check, and publishes the partitions that pass
all six (``quant_assets.assets.checks``). The logic is ``quant_assets.features.audit``,
the same code ``quant-assets audit`` runs on stored partitions.
"""

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, Field, multi_asset_check

from quant_assets import settings
from quant_assets.assets.checks import Batch, Verdict, audit_op_name, register_audit, run_audit
from quant_assets.assets.metadata import preview
from quant_assets.features import audit as feature_audit
from quant_assets.features import contract
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import utc_now

CHECK_DESCRIPTIONS = {
    "contract": (
        "Columns, order and dtypes are the feature contract's; the file records the contract hash and its inputs; t is the day's decision grid."
    ),
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


@multi_asset_check(
    name=audit_op_name(contract.FEATURES_ASSET),
    specs=[
        AssetCheckSpec(f"feature_matrix_{name}", asset=contract.FEATURES_ASSET, blocking=True, description=CHECK_DESCRIPTIONS[name])
        for name in feature_audit.CHECKS
    ],
    config_schema={
        "prefix_samples": Field(
            str,
            default_value=settings.current().features.prefix_samples,
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
    # The asset's step settled its partitions with the default sample (feature_verdicts); a
    # checks-only run audits the published ones with this op's config.
    config = context.op_execution_context.op_config or {}
    sample = config.get("prefix_samples", settings.current().features.prefix_samples)
    yield from run_audit(context, lake, contract.FEATURES_ASSET, lambda batch: feature_verdicts(batch, sample, config.get("seed")))


def feature_verdicts(batch: Batch, sample: str | None = None, seed: int | None = None) -> dict[str, Verdict]:
    """Every feature check on the batch's partitions, read with their recorded, published
    inputs; ``sample`` rows per partition (default ``QUANT_ASSETS_FEATURE_PREFIX_SAMPLES``),
    a fresh ``seed`` when none is given (recorded in the metadata)."""
    sample = sample if sample is not None else settings.current().features.prefix_samples
    sample = "all" if sample == "all" else int(sample)
    seed = seed if seed is not None else feature_audit.draw_seed()
    reports = list(feature_audit.audit_lake(batch.store, batch.parts, sample=sample, seed=seed, now=utc_now()))
    # an upstream partition rewritten between the build and its checks: the recompute would
    # compare with other inputs, so the row checks that need the inputs cannot pass
    changed = {r.partition: f"{r.partition}: {'; '.join(r.inputs_changed)}" for r in reports if r.inputs_changed}
    return {f"feature_matrix_{name}": _verdict(name, reports, sample, seed, changed) for name in feature_audit.CHECKS}


register_audit(contract.FEATURES_ASSET, feature_verdicts, [f"feature_matrix_{name}" for name in feature_audit.CHECKS])


def _verdict(name: str, reports: list, sample, seed: int, changed: dict) -> Verdict:
    """One check's verdict; ``changed``: partitions whose inputs changed since their build,
    which a check that needs the inputs cannot pass."""
    unverified = changed if name in feature_audit.INPUT_CHECKS else {}
    found = [v for r in reports for v in r.violations if v.check == name]
    total = sum(r.counts.get(name, 0) for r in reports)
    failing = {
        r.partition: next((v.line() for v in r.violations if v.check == name), f"{name}: {r.counts[name]} violations")
        for r in reports
        if r.counts.get(name, 0)
    }
    for part, line in unverified.items():
        failing.setdefault(part, f"inputs changed since build, not verified: {line}")
    table = pl.DataFrame(
        [v.as_dict() for v in found],
        schema={k: pl.String for k in ("check", "partition", "t", "feature", "stored", "expected", "detail")},
    ).drop("check")
    first = found[0].line() if found else ""
    said = [f"{total} violations in {sum(1 for r in reports if r.counts.get(name, 0))} partitions; first: {first}"] if total else []
    if unverified:
        said.append(f"inputs changed since build, not verified: {', '.join(list(unverified.values())[:3])}")
    return Verdict(
        passed=total == 0 and not unverified,
        description=f"{name}: {'; '.join(said) or 'ok'}",
        metadata={
            "partitions_checked": len(reports),
            "rows_checked": sum(r.rows for r in reports),
            "rows_recomputed": sum(r.recomputed for r in reports),
            "prefix_samples": str(sample),
            "prefix_seed": seed,
            "partitions_inputs_changed": len(changed),
            "violations": total,
            "violations_preview": preview(table, rows=20),
            "contract_hash": contract.CONTRACT_HASH,
        },
        failing=failing,
    )
