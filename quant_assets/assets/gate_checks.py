"""Blocking checks on gate_verdict (logic in ``quant_assets.evaluation.gate_verify``), and the
alias moves that wait for them.

One audit op runs both on the run's staged partitions (the reproduction, which judges a
partition again, on the first, last and ``QUANT_ASSETS_VERDICT_REPRODUCE_SAMPLES`` sampled ones, as
oos_eval's summary check does; the evidence check on every one) and publishes those that pass both
(``quant_assets.assets.checks``); the others are quarantined with their report and move no
alias. Only after publication does a partition move anything in MLflow
(``gate.move_aliases``): ``challenger`` where the served family passed, the portfolio verdict
tag on every horizon's version. A checks-only run audits the published partitions and moves
nothing.
"""

import polars as pl
from dagster import AssetCheckExecutionContext, AssetCheckSpec, multi_asset_check

from quant_assets import settings
from quant_assets.assets.checks import audit_op_name, open_batch, problems_verdict, publish_verdicts
from quant_assets.assets.evaluation_checks import sampled
from quant_assets.assets.gate import WindowBooks, by_symbol, gate_thresholds, judge, model_record, move_aliases, served_family
from quant_assets.evaluation import gate_verify
from quant_assets.evaluation.completeness import labels_known_by_day
from quant_assets.evaluation.gate_book import PARTITION_DAY
from quant_assets.evaluation.gate_window import GATE_ASSET, PARTITION_SEPARATOR
from quant_assets.labels.forward import LABELS_ASSET, available_column, missing_column
from quant_assets.labels.horizons import HORIZONS
from quant_assets.models.record import MODELS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.models import MlflowTracking

CHECKS = {
    "gate_verdict_evidence_known": "Every day a verdict counted as evidence had every label available at the verdict's day 00:00, "
    "re-derived from the labels asset's label_available_at; completed_days names exactly those days.",
    "gate_verdict_reproduces": "For the first, last and N sampled partitions, the verdict recomputed from its stored inputs (the "
    "window's oos_eval rows, feature flags, the fit's purged k-fold, and the failing partitions and configuration count the rows "
    "recorded) is the stored partition, row for row.",
}
WHAT = {"gate_verdict_evidence_known": "evidence known at D 00:00", "gate_verdict_reproduces": "verdict reproduced"}


LABEL_COLUMNS = tuple(c for h in HORIZONS for c in (available_column(h), missing_column(h)))


def labels_known(store, symbol: str, days) -> dict:
    """``labels_known_at`` of each of ``days``' labels partition of ``symbol`` (None where there
    is none), from one multi-file read of the columns it needs."""
    parts = [DaySymbol(d, symbol) for d in sorted(set(days)) if store.exists(LABELS_ASSET, DaySymbol(d, symbol))]
    labels = store.read_many(LABELS_ASSET, parts, with_partition_day=True, columns=LABEL_COLUMNS) if parts else None
    known = labels_known_by_day(labels, HORIZONS, PARTITION_DAY) if labels is not None and labels.height else {}
    return {d: known.get(d) for d in days}


@multi_asset_check(
    name=audit_op_name(GATE_ASSET),
    specs=[AssetCheckSpec(name, asset=GATE_ASSET, blocking=True, description=d) for name, d in CHECKS.items()],
    description="The gate_verdict checks, over the run's staged partitions; publishes those that pass, then moves the aliases.",
)
def gate_verdict_checks(context: AssetCheckExecutionContext, lake: LakeResource, mlflow_tracking: MlflowTracking):
    batch = open_batch(context, lake, GATE_ASSET)  # the run's staged verdicts, published inputs
    parts, store = batch.parts, batch.store
    tracking, thresholds = mlflow_tracking.tracking(), gate_thresholds()
    samples = set(sampled(parts, settings.current().evaluation.verdict_reproduce_samples))
    problems = {name: {} for name in CHECKS}
    stored_by_part = {part: store.read(GATE_ASSET, part) for part in parts}
    evidence = {part: gate_verify.evidence_days_of(stored) for part, stored in stored_by_part.items()}
    known = {symbol: labels_known(store, symbol, {d for p in held for d in evidence[p]}) for symbol, held in by_symbol(parts).items()}
    for part in parts:
        days = {d: known[part.symbol][d] for d in evidence[part]}
        problems["gate_verdict_evidence_known"][part] = gate_verify.evidence_problems(part, stored_by_part[part], days)
    # The reproduction judges again from its own reads of the lake and MLflow (its own books), not the asset's.
    books, caches = WindowBooks(store, [p for p in parts if p in samples], thresholds.window_days), {}
    for symbol, reproduced in by_symbol(p for p in parts if p in samples).items():
        for part in reproduced:
            stored = stored_by_part[part]
            failing = [x for x in (stored["failing_partitions"][0] if stored.height else "").split(PARTITION_SEPARATOR) if x]
            configurations = int(stored["configurations"][0]) if stored.height else 1
            again = judge(books, tracking, part, model_record(store, part), thresholds, failing, configurations, caches)
            problems["gate_verdict_reproduces"][part] = gate_verify.reproduction_problems(part, stored, again)
        books.release(symbol)
    verdicts = {name: problems_verdict(problems[name], WHAT[name], len(parts)) for name in CHECKS}
    results = list(publish_verdicts(batch, verdicts, set(verdicts)))  # publishes (or quarantines) first
    if batch.staging is not None:
        refused = {p for v in verdicts.values() for p in v.failing} | (
            set(parts) if not all(v.passed or v.failing for v in verdicts.values()) else set()
        )
        family, published = served_family(), lake.lake()
        records = {p: published.read(MODELS_ASSET, p).row(0, named=True) for p in parts if p not in refused and published.exists(MODELS_ASSET, p)}
        for part in deciding(records, stored_by_part, family):
            moved = move_aliases(tracking, part, records[part], stored_by_part[part], family)
            context.log.info("%s: %s", part, "; ".join(moved) or f"no alias moved (the served family {family} passed no horizon)")
    yield from results


def deciding(records: dict, verdicts: dict, family: str) -> list[DaySymbol]:
    """The published partitions whose verdicts can still move something, in day order. In MLflow
    the newest day wins (``registry.aliases``): a fit's portfolio tags end as its newest day's, and
    its challenger tags as its newest passing day's. So of the days one fit serves in the run only
    those two matter; moving the others' first (one MLflow round trip each, most of a long
    range's gate checks) would end in the same aliases and tags."""
    newest: dict = {}
    for part in sorted(records, key=lambda p: p.day):
        fit = (part.symbol, records[part]["versions"])
        newest[fit, None] = part  # the portfolio verdict: the newest day of the fit
        served = verdicts[part].filter(pl.col("passed") & (pl.col("family") == family))
        for horizon in served["horizon"]:
            newest[fit, horizon] = part  # challenger: the newest day the served family passed on it
    return sorted(set(newest.values()), key=lambda p: (p.day, p.symbol))
