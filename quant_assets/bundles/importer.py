"""Import a bundle: unpack it (``quant_assets.bundles.unpack``), then materialize it through Dagster.

Materializing runs the bundle's own assets for the partitions it holds, reading the unpacked
files through the ``bundle`` data sources, so imported data passes the same blocking checks
as ingested data and Dagster records where each partition came from. A failed run or
blocking check puts the lake back as it was.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

from dagster import (
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    JobExecutionResult,
)

from quant_assets import runs
from quant_assets.assets.checks import ROLLED_BACK_TAG, partial_outcome
from quant_assets.bundles.coverage import held_partitions, import_steps
from quant_assets.bundles.manifest import BundleError
from quant_assets.bundles.rollback import kept_aside
from quant_assets.bundles.unpack import (
    Unpacking,
    verify_and_unpack,  # noqa: F401 - where callers found it before unpacking moved
)
from quant_assets.bundles.unpacked import STAGING_PREFIX, UnpackedBundles
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol

BUNDLE_ID_TAG = "quant_assets/bundle_id"


@dataclass(frozen=True)
class RunOutcome:
    asset: str
    run_id: str
    partitions: str  # the run's partition range
    success: bool
    error: str | None
    checks_passed: list[str]
    checks_failed: list[str]  # "check: description", blocking (ERROR) checks only
    checks_warned: list[str]  # failed WARN-severity checks: reported, not fatal
    # partitions a step published and recorded materialized before it failed holding others back
    recorded: dict[str, list[DaySymbol]] = field(default_factory=dict)


@dataclass
class ImportReport:
    bundle_id: str
    materialized: dict[str, list[DaySymbol]] = field(default_factory=dict)
    skipped: dict[str, list[DaySymbol]] = field(default_factory=dict)
    # bundle id -> "asset partition" of this bundle's partitions that a bundle unpacked later holds
    held_by: dict[str, list[str]] = field(default_factory=dict)
    runs: list[RunOutcome] = field(default_factory=list)
    # after a rollback: the partitions Dagster had shown materialized by the import, now shown failed
    rolled_back: dict[str, list[DaySymbol]] = field(default_factory=dict)

    @property
    def failed_runs(self) -> list[RunOutcome]:
        return [r for r in self.runs if not r.success]

    @property
    def checks_passed(self) -> int:
        return sum(len(r.checks_passed) for r in self.runs)

    @property
    def checks_failed(self) -> list[str]:
        return [f"{r.asset}.{c}" for r in self.runs for c in r.checks_failed]

    @property
    def checks_warned(self) -> list[str]:
        return [f"{r.asset}.{c}" for r in self.runs for c in r.checks_warned]

    @property
    def ok(self) -> bool:
        return not self.failed_runs and not self.checks_failed

    def failure_line(self) -> str:
        """What failed, in one line: the failed runs with their errors, then the failed checks."""
        failed = [f"{r.asset} {r.partitions}: {r.error or 'failed'}" for r in self.failed_runs]
        return (
            f"{len(self.failed_runs)} of {len(self.runs)} runs failed"
            + (f" ({'; '.join(failed)})" if failed else "")
            + (f"; checks failed: {'; '.join(self.checks_failed)}" if self.checks_failed else "")
        )


def import_partitions(
    unpacking: Unpacking,
    defs: Definitions,
    instance: DagsterInstance,
    universe: list[str],
    lake: ParquetLake,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> ImportReport:
    """Run the bundle's assets for the partitions it holds, tagged with the bundle id.

    A partition belongs to the bundle unpacked last that has it (what the bundle sources read).
    Partitions a later bundle holds are reported in ``held_by`` and left alone; partitions
    whose lake file already has the bundle file's SHA-256 are skipped. So importing a bundle
    again, even after a newer one replaced some of its partitions, runs nothing. If any run
    fails or any blocking check fails, the lake files the runs wrote are put back as they were.
    """
    manifest, bundle = unpacking.manifest, unpacking.bundle
    known = set(defs.resolve_all_asset_keys())
    undefined = [a for a in manifest.assets if AssetKey(a) not in known]
    if undefined:
        raise BundleError(f"bundle {bundle.bundle_id} holds {', '.join(undefined)}, which no Dagster asset here defines")
    report = ImportReport(bundle.bundle_id)
    unpacked = UnpackedBundles(str(bundle.root.parent))
    for asset in manifest.assets:
        parts = manifest.partitions(asset)
        holders = unpacked.locate(asset, parts)
        for part in parts:
            holder = holders[part].bundle_id
            if holder != bundle.bundle_id:
                report.held_by.setdefault(holder, []).append(f"{asset} {part}")
                continue
            same = lake.exists(asset, part) and lake.file_sha256(asset, part) == bundle.files[(asset, part)]
            (report.skipped if same else report.materialized).setdefault(asset, []).append(part)
    # One run per partition rectangle for all of the bundle's assets together, so Dagster
    # orders them (derivatives read the bars of the same partition) and a partition is
    # redone whole when any of its assets differs from the bundle; partitions that hold
    # fewer assets (text collected later than bars) run apart, only what they hold.
    todo = sorted({part for parts in report.materialized.values() for part in parts})
    if not todo:
        return report
    touched = [(asset, part) for asset in manifest.assets for part in todo]
    spool = bundle.root.parent / f"{STAGING_PREFIX}lake-{uuid.uuid4().hex}"
    with kept_aside(lake, touched, spool) as before:
        for assets, parts in import_steps(held_partitions(manifest), set(todo)):
            for result in runs.materialize(defs, assets, parts, universe, instance, tags={BUNDLE_ID_TAG: bundle.bundle_id}):
                outcome = _outcome(",".join(assets), result)
                report.runs.append(outcome)
                if on_run:
                    on_run(outcome)
        if not report.ok:
            before.restore()
            report.rolled_back = _record_rollback(defs, instance, universe, report)
    return report


def _record_rollback(defs: Definitions, instance: DagsterInstance, universe: list[str], report: ImportReport) -> dict[str, list[DaySymbol]]:
    """Dagster must not go on showing a rolled-back partition as materialized, and its open
    source storage cannot wipe one partition's events. So each asset's partitions that the
    import's runs recorded materialized get one more run, tagged with why, whose steps refuse
    before writing anything: Dagster then shows those partitions failed, the reason in that run."""
    shown: dict[str, set[DaySymbol]] = {}
    for outcome in report.runs:
        records = instance.get_records_for_run(outcome.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=1_000_000)
        for record in records.records:
            event = record.event_log_entry.dagster_event
            shown.setdefault(event.asset_key.to_user_string(), set()).add(DaySymbol.parse(event.partition))
        for asset, parts in outcome.recorded.items():
            shown.setdefault(asset, set()).update(parts)
    why = f"rolled back: bundle {report.bundle_id} import failed ({report.failure_line()}); the lake holds what it held before"
    for asset, parts in sorted(shown.items()):
        runs.materialize(
            defs,
            [asset],
            sorted(parts),
            universe,
            instance,
            tags={ROLLED_BACK_TAG: why, BUNDLE_ID_TAG: report.bundle_id},
            progress=lambda _: None,
        )
    return {asset: sorted(parts) for asset, parts in sorted(shown.items())}


def _outcome(asset: str, result: ExecuteInProcessResult | JobExecutionResult) -> RunOutcome:
    tags = result.dagster_run.tags
    evaluations = result.get_asset_check_evaluations()
    failures = result.get_step_failure_events()
    recorded: dict[str, list[DaySymbol]] = {}
    for failure in failures:
        partial = partial_outcome(failure)
        if partial is not None:
            recorded[partial["asset"]] = [DaySymbol.parse(p) for p in partial["published"]]
    error = None
    if failures:
        data = failures[0].step_failure_data
        message = data.error.message if data.error else "failed"
        error = f"{failures[0].step_key}: {' '.join(message.split())}"
    return RunOutcome(
        asset=asset,
        run_id=result.run_id,
        partitions=f"{tags.get(runs.ASSET_PARTITION_RANGE_START_TAG)}...{tags.get(runs.ASSET_PARTITION_RANGE_END_TAG)}",
        success=result.success,
        error=error,
        checks_passed=[e.check_name for e in evaluations if e.passed],
        checks_failed=[f"{e.check_name}: {e.description}" for e in evaluations if not e.passed and e.severity == AssetCheckSeverity.ERROR],
        checks_warned=[f"{e.check_name}: {e.description}" for e in evaluations if not e.passed and e.severity != AssetCheckSeverity.ERROR],
        recorded=recorded,
    )
