"""Shared glue for asset checks and write-audit-publish.

A partition reaches the lake only after its blocking checks pass
(``quant_assets.lake.publish``). An asset adopts this in two places:

    # the asset: write through the run's staging, not the lake
    with staged_writes(context, lake, ASSET) as store:
        write = store.write(ASSET, part, frame)   # write.path/sha256: the published file's

    # its checks: one op evaluates them all on one read of the staged partitions, then
    # publishes the partitions every blocking check passed and quarantines the rest
    CHECKS = {"asset_schema": AuditCheck("Columns match.", schema_verdict),
              "asset_unique": AuditCheck("No duplicate keys.", row_rule(quality.duplicates, "unique key"))}
    asset_checks = audit_checks(ASSET, CHECKS, description="...")   # the op named audit_op_name(ASSET)

A check evaluates a :class:`Batch` (the run's partitions, read once) into a :class:`Verdict`
that names its failing partitions (and those whose data has not arrived yet). Checks run
without their asset (a checks-only run) audit the published partitions and publish nothing.

**A bad partition costs one partition.** Dagster 1.13 records a range run's materializations
for every partition of the range when the asset's step returns, and a blocking check's
result is one per run, so an audit op that runs after the step can neither keep a held-back
partition from showing as materialized nor let the good partitions' children run. So a
registered audit (:func:`audit_checks` registers its own; an audit that writes its decorator calls
:func:`register_audit` and :func:`run_audit`) settles its asset *in the asset's step*, as
``staged_writes`` closes (:func:`settle`): the checks are evaluated there, the passing partitions published and
the others held back. When all passed, the step returns as usual and the audit op reports the
results it recorded. When some were held back, the step records the published partitions'
materializations and the checks' results through the instance, then fails naming the held
partitions: Dagster shows them failed (never materialized), skips the run's downstream steps,
and the caller (``quant_assets.runs.backfill``, the ``partial_follow_up`` sensor) requests the
downstream assets for the published partitions only. Audits that are not registered
(``open_batch`` + ``publish_verdicts`` in their op) still publish from their op.
"""

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    Failure,
    MetadataValue,
    deserialize_value,
    multi_asset_check,
    serialize_value,
)

from quant_assets.assets.metadata import preview, row_count
from quant_assets.catalog import schema_for
from quant_assets.lake.location import ensure_folder
from quant_assets.lake.publish import NOT_YET_AVAILABLE, QUARANTINED, Publication, StagedLake, sweep_staging
from quant_assets.lake.store import ParquetLake, atomic_write_bytes
from quant_assets.partitions import DaySymbol, parse_keys
from quant_assets.resources.lake import LakeResource

LISTED = 50  # partitions named in a check's metadata; all are counted
# The Failure metadata key of a step that published some partitions and held back others.
PARTIAL_KEY = "quant_assets/partial"
# On a run that records the partitions of a failed, rolled-back bundle import as failed in
# Dagster: its value is why; every asset step of the run refuses with it, writing nothing.
ROLLED_BACK_TAG = "quant_assets/rolled_back"
SETTLED_RESULTS = "SETTLED.json"  # a settled step's check results, for its audit op to report
RECORDED_BY_RUN = "recorded_by_run"  # on a check result a step recorded through the instance: its run


def run_partitions(context: AssetCheckExecutionContext) -> list[DaySymbol]:
    """The partitions the current run materialized; a check covers exactly these.

    Checks run in the same run as their asset, so they see its partition range, or its one
    partition (a run the automation sensor or the UI launches for a single partition).
    """
    op_context = context.op_execution_context
    if not (op_context.has_partition_key_range or op_context.has_partition_key):
        raise ValueError("this check only runs together with a partitioned materialization")
    return parse_keys(op_context.partition_keys)


# ---- what a check sees and says ---------------------------------------------------------


class Batch:
    """The run's partitions of one asset as its checks see them: staged when the run
    materialized the asset (then ``staging`` publishes them), else published. Read once."""

    def __init__(self, store: ParquetLake, asset: str, parts: list[DaySymbol], staging: StagedLake | None):
        self.store, self.asset, self.parts, self.staging = store, asset, parts, staging

    @cached_property
    def _rows(self) -> pl.DataFrame:
        return self.store.read_many(self.asset, self.parts, with_partition_day=True)

    def rows(self, with_partition_day: bool = False) -> pl.DataFrame:
        """Every row of the run's partitions with ``symbol`` (and ``partition_day`` if asked)."""
        if with_partition_day or "partition_day" not in self._rows.columns:
            return self._rows
        return self._rows.drop("partition_day")


@dataclass(frozen=True)
class Verdict:
    """One check's outcome; ``failing`` names each failing partition and why (one line)."""

    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    failing: dict[DaySymbol, str] = field(default_factory=dict)
    # Partitions whose data has not arrived yet (not a data error): held back with their
    # reason, not published, tried again by the next run.
    pending: dict[DaySymbol, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Audit:
    """How an asset's step settles it: its checks' verdicts on a batch, and which block."""

    evaluate: Callable[[Batch], Mapping[str, Verdict]]
    blocking: frozenset[str]


AUDITS: dict[str, Audit] = {}  # asset -> its audit, for the assets whose step settles them


def register_audit(asset: str, evaluate: Callable[[Batch], Mapping[str, Verdict]], blocking) -> None:
    """Let ``asset``'s step settle it (:func:`settle`) with ``evaluate``; its audit op then
    calls :func:`run_audit`. ``audit_checks`` does this; an audit that writes its own decorator
    registers its evaluation here."""
    AUDITS[asset] = Audit(evaluate, frozenset(blocking))


@dataclass(frozen=True)
class AuditCheck:
    description: str
    evaluate: Callable[[Batch], Verdict]
    blocking: bool = True  # a failing non-blocking check warns and publishes anyway


def failing_partitions(offending: pl.DataFrame, batch: Batch, what: str, time_column: str = "ts") -> dict[DaySymbol, str]:
    """Offending rows (``symbol``, ``time_column``, ``problem``) -> the partitions they fail.

    A row is found in the partition whose file holds it (matched to the batch's rows on the
    columns both share), so a row filed under the wrong day fails that file, not the day
    its timestamp names; a row no file holds (a missing one) fails its timestamp's day. A
    row that maps to no partition of the run fails all of its symbol's.
    """
    if offending.is_empty():
        return {}
    rows = batch.rows(with_partition_day=True)
    keys = [c for c in offending.columns if c in rows.columns and c not in ("problem", "partition_day") and offending[c].dtype == rows[c].dtype]
    if "partition_day" not in offending.columns and "symbol" in keys and "partition_day" in rows.columns:
        offending = offending.join(rows.select(*keys, "partition_day").unique(), on=keys, how="left")
    day = pl.col(time_column).dt.date()
    if "partition_day" in offending.columns:
        day = pl.coalesce(pl.col("partition_day"), day)
    problem = pl.col("problem").first() if "problem" in offending.columns else pl.lit("offending")
    grouped = offending.group_by(day.alias("_day"), "symbol").agg(
        pl.len().alias("n"), pl.col(time_column).min().alias("first"), problem.alias("problem")
    )
    run, out = set(batch.parts), {}
    for row in grouped.iter_rows(named=True):
        why = f"{what}: {row['n']} offending rows, first {row['first']} ({row['problem']})"
        part = DaySymbol(row["_day"], row["symbol"])
        targets = [part] if part in run else [p for p in batch.parts if p.symbol == row["symbol"]] or batch.parts
        for target in targets:
            out.setdefault(target, why)
    return out


def offending_verdict(offending: pl.DataFrame, what: str, batch: Batch, time_column: str = "ts") -> Verdict:
    """Pass when nothing offends; otherwise fail naming the rows (symbol, time, problem)."""
    failing = failing_partitions(offending, batch, what, time_column)
    return Verdict(
        passed=offending.is_empty(),
        description=f"{what}: ok" if offending.is_empty() else f"{what}: {offending.height} offending rows",
        metadata={
            "rows_checked": batch.rows().height,
            "offending_rows": offending.height,
            "offending_preview": preview(offending.sort("symbol", time_column), rows=20),
        },
        failing=failing,
    )


def row_rule(
    rule: Callable[[pl.DataFrame], pl.DataFrame], what: str, time_column: str = "ts", with_partition_day: bool = False
) -> Callable[[Batch], Verdict]:
    """A pure quality rule (the offending rows of a frame) as a check over the run's rows."""
    return lambda batch: offending_verdict(rule(batch.rows(with_partition_day)), what, batch, time_column)


def schema_verdict(batch: Batch, extra: Callable[[DaySymbol, pl.DataFrame], list[str]] | None = None) -> Verdict:
    """Every partition of the run has the asset's columns and dtypes (from parquet footers).

    ``extra(part, frame)`` may name further per-partition problems (e.g. unknown values).
    """
    expected, failing, problems = schema_for(batch.asset), {}, []
    for part in batch.parts:
        found = expected.problems(batch.store.read_schema(batch.asset, part))
        if extra is not None:
            found += extra(part, batch.store.read(batch.asset, part))
        problems += [f"{part}: {p}" for p in found]
        if found:
            failing[part] = f"schema: {'; '.join(found[:3])}"
    return Verdict(
        passed=not problems,
        description="schema ok" if not problems else "; ".join(problems[:10]),
        metadata={"partitions_checked": len(batch.parts), "problems": len(problems)},
        failing=failing,
    )


def problems_verdict(problems: Mapping[DaySymbol, list[str]], what: str, partitions: int) -> Verdict:
    """One check's verdict from its problem lines per offending partition (a partition with
    no lines passes); the first line of each names why that partition fails."""
    lines = [line for found in problems.values() for line in found]
    return Verdict(
        passed=not lines,
        description=f"{what}: ok" if not lines else f"{what}: {len(lines)} problems; first: {lines[0]}",
        metadata={"partitions_checked": partitions, "problems": len(lines), "first_problems": "\n".join(lines[:20]) or "none"},
        failing={part: found[0] for part, found in problems.items() if found},
    )


# ---- the audit: evaluate, publish or quarantine, report ----------------------------------


def audit_op_name(asset: str) -> str:
    """The name of an asset's audit op; the asset looks for it before it stages anything."""
    return f"{asset}_checks"


def audit_specs(asset: str, checks: Mapping[str, AuditCheck]) -> list[AssetCheckSpec]:
    return [AssetCheckSpec(name, asset=asset, blocking=check.blocking, description=check.description) for name, check in checks.items()]


def open_batch(context: AssetCheckExecutionContext, lake: LakeResource, asset: str) -> Batch:
    published = lake.lake()
    staging = StagedLake.sealed(published, context.op_execution_context.run_id, asset)
    return Batch(staging or published, asset, run_partitions(context), staging)


def held_back(batch: Batch, verdicts: Mapping[str, Verdict], blocking: set[str]) -> dict[DaySymbol, list[dict]]:
    """Each partition a blocking check keeps out of the lake, with every check's reason and
    its state: quarantined (bad data) or not yet available (its data has not arrived)."""
    held: dict[DaySymbol, list[dict]] = {}
    for name in sorted(blocking):
        verdict = verdicts[name]
        # A failure no partition was named for fails them all: nothing unchecked is published.
        failing = verdict.failing or ({} if verdict.passed else {p: verdict.description for p in batch.parts})
        for part, why in failing.items():
            held.setdefault(part, []).append({"check": name, "why": why, "state": QUARANTINED})
        for part, why in verdict.pending.items():
            held.setdefault(part, []).append({"check": name, "why": why, "state": NOT_YET_AVAILABLE})
    return held


def publish_verdicts(batch: Batch, verdicts: Mapping[str, Verdict], blocking: set[str]) -> Iterator[AssetCheckResult]:
    """Publish the staged partitions every blocking check passed, hold back the others (in
    quarantine; their report names each check and why), and report each check."""
    yield from _publish(batch, verdicts, blocking)[1]


def _publish(batch: Batch, verdicts: Mapping[str, Verdict], blocking: set[str]) -> tuple[Publication | None, list[AssetCheckResult]]:
    publication = None
    if batch.staging is not None:
        publication = batch.staging.publish(held_back(batch, verdicts, blocking))
        outcome = {
            "partitions_published": len(publication.published),
            "partitions_quarantined": len(publication.quarantined),
            "quarantined": ", ".join(str(p) for p in publication.quarantined[:LISTED]) or "none",
            "quarantine_root": str(batch.staging.quarantine_root),
        }
    else:
        outcome = {"publication": "nothing staged in this run: audited the published partitions"}
    results = [
        AssetCheckResult(
            check_name=name,
            asset_key=AssetKey(batch.asset),
            passed=verdict.passed,
            severity=AssetCheckSeverity.ERROR if name in blocking else AssetCheckSeverity.WARN,
            description=verdict.description,
            metadata={
                **verdict.metadata,
                "failing_partitions": ", ".join(str(p) for p in sorted(verdict.failing)[:LISTED]) or "none",
                "not_yet_available": ", ".join(str(p) for p in sorted(verdict.pending)[:LISTED]) or "none",
                **outcome,
            },
        )
        for name, verdict in verdicts.items()
    ]
    return publication, results


def run_audit(
    context: AssetCheckExecutionContext,
    lake: LakeResource,
    asset: str,
    evaluate: Callable[[Batch], Mapping[str, Verdict]] | None = None,
) -> Iterator[AssetCheckResult]:
    """The audit op of a registered asset: report what the asset's step settled in this run
    (:func:`settle`), or, in a checks-only run, evaluate (``evaluate``, by default the
    registered one) on one read of the published partitions and report."""
    settled = _settled_results(lake.lake(), context.op_execution_context.run_id, asset)
    if settled is not None:
        yield from settled
        return
    audit = AUDITS[asset]
    batch = open_batch(context, lake, asset)
    yield from publish_verdicts(batch, (evaluate or audit.evaluate)(batch), set(audit.blocking))


def audit_checks(asset: str, checks: Mapping[str, AuditCheck], description: str) -> AssetChecksDefinition:
    """The asset's audit: one ``@multi_asset_check`` named ``audit_op_name(asset)`` that runs
    ``checks`` with :func:`run_audit`, and that the asset's step settles (:func:`settle`).
    (An audit that needs op config, like feature_matrix's, writes the decorator itself and
    calls ``open_batch`` and ``publish_verdicts``.)"""
    register_audit(
        asset,
        lambda batch: {name: check.evaluate(batch) for name, check in checks.items()},
        [name for name, check in checks.items() if check.blocking],
    )

    @multi_asset_check(name=audit_op_name(asset), specs=audit_specs(asset, checks), description=description)
    def audit(context: AssetCheckExecutionContext, lake: LakeResource):
        yield from run_audit(context, lake, asset)

    return audit


@contextmanager
def staged_writes(context: AssetExecutionContext, lake: LakeResource, asset: str) -> Iterator[StagedLake]:
    """The store an asset writes through: its partitions are staged for this run and sealed
    on success for its checks to publish; on failure the staging is removed.

    Refuses, before anything is written, a run without the asset's audit (the op named
    ``audit_op_name(asset)``): with nobody to check them, its partitions could never be published.
    """
    rolled_back = context.run.tags.get(ROLLED_BACK_TAG)
    if rolled_back:
        raise Failure(f"{asset}: {rolled_back} (nothing was written)")
    selected = context.run.asset_check_selection  # None: every check of the job
    audited = audit_op_name(asset) in context.job_def.graph.node_names() and (
        selected is None or any(key.asset_key == AssetKey(asset) for key in selected)
    )
    if not audited:
        raise Failure(
            f"{asset} is published only after its blocking checks pass, and they are not part "
            f"of this run: materialize it with {audit_op_name(asset)} (nothing was written)"
        )
    store = lake.lake()
    # What runs of this instance left when they were killed before publishing: read by nobody, removed.
    swept = sweep_staging(store, lambda run_id: _run_is_over(context, run_id))
    if swept:
        context.log.info("removed the staging of %d runs that ended before publishing: %s", len(swept), ", ".join(swept))
    staged = StagedLake.begin(store, context.run_id, asset)
    try:
        yield staged
    except BaseException:
        staged.discard()
        raise
    staged.seal()
    if asset in AUDITS:
        try:
            settle(context, staged, asset, AUDITS[asset])
        except Failure:
            raise  # settle's own: every staged partition is published or held back already
        except BaseException:
            staged.discard()
            raise


# ---- settling in the asset's step: a bad partition costs one partition --------------------


def settle(context: AssetExecutionContext, staged: StagedLake, asset: str, audit: Audit) -> None:
    """Evaluate ``audit`` on the step's sealed staging, publish what passes, hold back the
    rest (see the module doc). All passed: the results wait for the audit op. Some held back:
    the published partitions' materializations and the checks' results are recorded now,
    and the step fails naming the held partitions, so Dagster never shows them materialized."""
    batch = Batch(staged, asset, parse_keys(context.partition_keys), staged)
    verdicts = audit.evaluate(batch)
    blocking = set(audit.blocking)
    publication, results = _publish(batch, verdicts, blocking)
    evaluations = [_evaluation(result, name in blocking) for name, result in zip(verdicts, results)]
    if not publication.quarantined:
        _record_results(staged, evaluations)
        return
    instance = context.instance
    for part in publication.published:
        instance.report_runless_asset_event(
            AssetMaterialization(asset_key=asset, partition=str(part), metadata=_published_metadata(staged, part, context.run_id))
        )
    for evaluation in evaluations:
        instance.report_runless_asset_event(evaluation.with_metadata({**evaluation.metadata, RECORDED_BY_RUN: context.run_id}))
    held = {part: _held_line(staged.lake.quarantine_report(asset, part)) for part in publication.quarantined}
    raise Failure(
        description=partial_line(asset, len(publication.published), held),
        metadata={
            PARTIAL_KEY: MetadataValue.json(
                {"asset": asset, "published": [str(p) for p in publication.published], "held": {str(p): w for p, w in held.items()}}
            )
        },
    )


def partial_outcome(step_failure) -> dict | None:
    """A failed step's ``{"asset", "published", "held"}`` when it held partitions back
    (:func:`settle`'s Failure), else None; ``step_failure`` is a step failure DagsterEvent."""
    user = step_failure.step_failure_data.user_failure_data
    found = user.metadata.get(PARTIAL_KEY) if user is not None else None
    return found.value if found is not None else None


def partial_line(asset: str, published: int, held: Mapping[DaySymbol, str]) -> str:
    """One line: how many partitions were published, and each held back one with why."""
    named = "; ".join(f"{part} {why}" for part, why in sorted(held.items())[:LISTED])
    more = f"; and {len(held) - LISTED} more" if len(held) > LISTED else ""
    return f"{asset}: {published} partitions published, {len(held)} held back ({named}{more}); their downstream partitions are not materialized"


def _held_line(report: dict | None) -> str:
    """``quarantined: check: why`` or ``not yet available: check: why`` from a report."""
    if not report:
        return "held back"
    return f"{report.get('state', QUARANTINED)}: " + "; ".join(f"{f['check']}: {f['why']}" for f in report["failed_checks"])


def _published_metadata(staged: StagedLake, part: DaySymbol, run_id: str) -> dict:
    written = staged.writes.get(part)
    facts = {"path": MetadataValue.path(str(staged.lake.partition_path(staged.asset, part))), "published_by_run": run_id}
    if written is not None:
        facts.update(content_sha256=written.sha256, rows=written.rows, **row_count(written.rows))
    return facts


def _evaluation(result: AssetCheckResult, blocking: bool) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        blocking=blocking,
    )


def _record_results(staged: StagedLake, evaluations: list[AssetCheckEvaluation]) -> None:
    area = staged.lake.staging_root / staged.run_id / staged.asset
    ensure_folder(area)
    atomic_write_bytes(area / SETTLED_RESULTS, serialize_value(evaluations).encode())


def _settled_results(store: ParquetLake, run_id: str, asset: str) -> list[AssetCheckResult] | None:
    """The results the asset's step recorded in this run (then removed), or None."""
    marker = store.staging_root / run_id / asset / SETTLED_RESULTS
    if not marker.exists():
        return None
    evaluations = deserialize_value(marker.read_text(), as_type=list)
    StagedLake(store, run_id, asset).discard()
    return [
        AssetCheckResult(
            check_name=e.check_name,
            asset_key=e.asset_key,
            passed=e.passed,
            metadata=e.metadata,
            severity=e.severity,
            description=e.description,
        )
        for e in evaluations
    ]


def _run_is_over(context: AssetExecutionContext, run_id: str) -> bool:
    """True for a run this instance knows has ended; False for a running or unknown one."""
    if run_id == context.run_id:
        return False
    run = context.instance.get_run_by_id(run_id)
    return run is not None and run.is_finished
