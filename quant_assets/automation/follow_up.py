"""The follow-up of a run that held partitions back, started without a person.

A run in which an asset's blocking checks held some partitions back (quarantined, or not yet
available) fails, so Dagster shows those partitions failed and skips the run's downstream
steps (``quant_assets.assets.checks.settle``). Whoever launched it, a UI backfill, a schedule
or the automation sensor, this sensor then requests the assets the run did not get to, for
the partitions no held-back one blocks, one run per partition rectangle: the same decision as
``quant-assets materialize`` makes in process (``quant_assets.runs.follow_up``). A run that
failed for any other reason is left for a person, as before.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetSelection,
    DagsterEventType,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
)

from quant_assets import settings
from quant_assets.assets.report import REPORT_ASSET  # one partition per study: never in a day x symbol range
from quant_assets.lake.store import ParquetLake
from quant_assets.runs import PartitionRange, follow_up, held_in_run, partition_ranges

FOLLOW_UP_SENSOR = "partial_follow_up"
FOLLOWS_TAG = "quant_assets/follows"  # on a follow-up run: the run whose held partitions it works around
TRADING_GROUP = "trading"  # partitioned by day only, and fed by the ledger: never in a range run

follow_up_job = define_asset_job(
    "partial_follow_up_job",
    # only the day x symbol assets: a job's assets must share one partitioning
    selection=AssetSelection.all() - AssetSelection.groups(TRADING_GROUP) - AssetSelection.assets(REPORT_ASSET),
    description="The downstream assets of a run that held partitions back, for the partitions that were published.",
)


@run_failure_sensor(
    name=FOLLOW_UP_SENSOR,
    request_job=follow_up_job,
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "When a run failed only because blocking checks held some partitions back, requests the assets it "
        "skipped for the partitions that were published (quant_assets.automation.follow_up)."
    ),
)
def partial_follow_up(context: RunFailureSensorContext):
    run = context.dagster_run
    selected = sorted(_assets_with(context, run.run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED))
    rect = PartitionRange.of_run(dict(run.tags))
    covered = set(rect.parts(settings.universe())) if rect is not None else set()
    if not selected or not covered:
        return SkipReason(f"run {run.run_id} is not a partitioned asset run")
    held = held_in_run(ParquetLake(settings.home().lake), selected, run.run_id)
    failed = {e.step_key: "failed" for e in context.get_step_failure_events()}
    materialized = _assets_with(context, run.run_id, DagsterEventType.ASSET_MATERIALIZATION)
    follow = follow_up(selected, materialized, held, covered, failed)
    if follow is None or not follow[0] or not follow[1]:
        return SkipReason(f"run {run.run_id}: nothing to follow up (it failed for another reason, or nothing was skipped)")
    rest, parts, _ = follow
    return [
        RunRequest(
            run_key=f"{FOLLOW_UP_SENSOR}:{run.run_id}:{rect}",
            asset_selection=[AssetKey(a) for a in rest],
            tags={**rect.tags, FOLLOWS_TAG: run.run_id},
        )
        for rect in partition_ranges(parts, settings.universe())
    ]


def _assets_with(context: RunFailureSensorContext, run_id: str, event_type: DagsterEventType) -> set[str]:
    """The assets with an event of ``event_type`` in the run (planned: what it was asked for)."""
    records = context.instance.get_records_for_run(run_id, of_type=event_type, limit=1_000_000).records
    return {record.event_log_entry.dagster_event.asset_key.to_user_string() for record in records}
