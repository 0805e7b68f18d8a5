"""Blocking checks on labels: recomputed from bars for sampled rows, and known exactly at t + h.

Both run on the run's staged partitions as the labels step ends (``quant_assets.assets.checks.settle``),
which publishes those that pass both; the others are quarantined, never read by models or
oos_eval; the audit op reports the results (or, in a checks-only run, audits the published ones).
(That no label column ever enters feature_matrix is feature_matrix's own blocking check.)
"""

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, multi_asset_check

from quant_assets import settings
from quant_assets.assets.checks import Batch, Verdict, audit_op_name, problems_verdict, register_audit, run_audit
from quant_assets.labels import verify
from quant_assets.labels.costs import cost_from_env
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.market.bars import BARS_ASSET
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import TS_DTYPE, utc_now


@multi_asset_check(
    name=audit_op_name(LABELS_ASSET),
    specs=[
        AssetCheckSpec(
            "labels_recompute",
            asset=LABELS_ASSET,
            blocking=True,
            description=(
                "The first, last and N random rows of each partition, recomputed row by row from the bars, "
                "equal the stored labels (gross and net of cost)."
            ),
        ),
        AssetCheckSpec(
            "labels_available_at",
            asset=LABELS_ASSET,
            blocking=True,
            description="t is the feature decision grid; per horizon a label is null iff flagged missing, and label_available_at = t + h exactly.",
        ),
    ],
    description="The labels checks, over the run's staged partitions (one read shared by both); publishes those that pass.",
)
def labels_checks(context: AssetCheckExecutionContext, lake: LakeResource):
    yield from run_audit(context, lake, LABELS_ASSET)


def labels_verdicts(batch: Batch) -> dict[str, Verdict]:
    """Both checks on one read of the batch (the run's staged labels, published bars)."""
    parts, store = batch.parts, batch.store
    samples = settings.current().labels.samples
    log_cost = cost_from_env().log_cost
    bar_parts = sorted({b for p in parts for b in verify.bar_days(p)})
    bars = store.read_many(BARS_ASSET, bar_parts, missing_ok=True, columns=["available_at", "close"])
    if bars.width == 0:  # no bars at all: every stored label must then be missing
        bars = pl.DataFrame(schema={"symbol": pl.String(), "available_at": TS_DTYPE, "close": pl.Float64()})
    close_at = verify.close_lookup(bars)  # once per symbol, not once per partition
    labels = batch.rows(with_partition_day=True)  # one multi-file read of the run's partitions
    by_part = verify.by_partition(labels)
    availability = verify.availability_problems(labels, by_part, parts, utc_now())
    recompute = {}
    for i, part in enumerate(parts):
        frame = by_part.get((part.symbol, part.day), labels.clear())
        sample = verify.sample_rows(frame, samples, seed=i)
        recompute[part] = verify.recompute_problems(part, sample, close_at.get(part.symbol, {}), log_cost)
    return {
        "labels_recompute": problems_verdict(recompute, "recomputed from bars", len(parts)),
        "labels_available_at": problems_verdict(availability, "label_available_at = t + h", len(parts)),
    }


register_audit(LABELS_ASSET, labels_verdicts, ["labels_recompute", "labels_available_at"])
