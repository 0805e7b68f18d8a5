"""Blocking checks on oos_eval (logic in ``quant_assets.evaluation.oos_verify``).

One audit op runs the four on the run's staged partitions and publishes those that pass all
four (``quant_assets.assets.checks``); the others are quarantined with their report.
"""

import io
import random

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, multi_asset_check

from quant_assets import settings
from quant_assets.assets.checks import audit_op_name, open_batch, problems_verdict, publish_verdicts
from quant_assets.evaluation import oos_verify
from quant_assets.evaluation.oos import OOS_ASSET, closing_positions, previous_day
from quant_assets.evaluation.oos_run import by_partition
from quant_assets.labels.forward import LABELS_ASSET
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource

CHECKS = {
    "oos_embargo": (
        "Every prediction row names the fit of the model partition (D, S), "
        "and that fit's end + embargo (longest horizon + one bar) <= the row's day start."
    ),
    "oos_labels_unchanged": "Every stored label and net label equals the labels asset's at the same t and horizon.",
    "oos_summary_reproduces": (
        "For the first, last and N sampled partitions, the metrics recomputed from the stored rows equal the summary stored with them."
    ),
    "oos_carry_in": (
        "One book across days: the positions day D opened with are those D-1's stored rows closed with "
        "(flat, and said so, only where D-1 is not published), and each series' first trade is its change from them."
    ),
}


def sampled(parts: list[DaySymbol], n: int) -> list[DaySymbol]:
    """First, last and up to ``n`` more, seeded by the partitions themselves (reruns agree)."""
    if len(parts) <= n + 2:
        return parts
    rng = random.Random(f"{parts[0]}..{parts[-1]}")
    return sorted({parts[0], parts[-1], *rng.sample(parts[1:-1], n)})


@multi_asset_check(
    name=audit_op_name(OOS_ASSET),
    specs=[AssetCheckSpec(name, asset=OOS_ASSET, blocking=True, description=d) for name, d in CHECKS.items()],
    description="The oos_eval checks, over the run's staged partitions; publishes those that pass.",
)
def oos_eval_checks(context: AssetCheckExecutionContext, lake: LakeResource):
    batch = open_batch(context, lake, OOS_ASSET)  # the run's staged rows, published inputs
    parts, store = sorted(batch.parts, key=lambda p: (p.symbol, p.day)), batch.store  # each symbol's days in order
    samples = set(sampled(parts, settings.current().evaluation.oos_summary_samples))
    # One read of each input asset for the run, and of each staged file (its rows and footer).
    records = by_partition(store.read_many(MODELS_ASSET, parts, with_partition_day=True), parts)
    labels = by_partition(store.read_many(LABELS_ASSET, parts, with_partition_day=True), parts)
    problems = {name: {} for name in CHECKS}
    closed = {}  # each partition's closing positions, so a run's D-1 is read once
    for part in parts:
        rows, footer = read_with_footer(store, OOS_ASSET, part)
        problems["oos_embargo"][part] = oos_verify.embargo_problems(part, rows, records[part].row(0, named=True))
        problems["oos_labels_unchanged"][part] = oos_verify.label_problems(part, rows, labels[part])
        prev = previous_day(part)
        if prev not in closed and store.exists(OOS_ASSET, prev):
            closed[prev] = closing_positions(store.read(OOS_ASSET, prev))
        problems["oos_carry_in"][part] = oos_verify.carry_problems(part, rows, footer, closed.get(prev))
        closed[part] = closing_positions(rows)
        if part in samples:
            problems["oos_summary_reproduces"][part] = oos_verify.summary_problems(part, rows, footer)
    whats = {"oos_embargo": "fit end + embargo <= day", "oos_labels_unchanged": "labels unchanged", "oos_summary_reproduces": "summary recomputed",
             "oos_carry_in": "opens with the previous day's close"}  # fmt: skip
    verdicts = {name: problems_verdict(problems[name], what, len(parts)) for name, what in whats.items()}
    yield from publish_verdicts(batch, verdicts, set(verdicts))


def read_with_footer(store, asset: str, part: DaySymbol) -> tuple[pl.DataFrame, dict[str, str]]:
    """A partition's rows and its file's footer metadata, from one read of the file."""
    data = store.read_bytes(asset, part)
    return pl.read_parquet(data), pl.read_parquet_metadata(io.BytesIO(data))
