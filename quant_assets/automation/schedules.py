"""The two source refreshes: yesterday's closed partitions each night, today's partial one intraday.

Both run the external sources (an exchange through ccxt, or dropped files), never the
bundle-fed ones: a bundle's days arrive through the inbox sensor, and a scheduled run would
only read the unpacked bundles again. Each requests one run over the day's whole row of
symbols (a partition range, as a backfill would), with the sources' blocking checks riding
along, so a day is published only once its checks pass.

A night the daemon missed is caught up the next night: the daily run starts from the first
of the last ``CATCH_UP_DAYS`` days that some symbol's first external source lacks (never
materialized), through yesterday. Older gaps are a backfill in the UI.

Only closed records are ever written: ``market_bars`` keeps a bar once ``available_at <= now``
at run time (every market source filters with ``only_closed``), and derivatives keep an hourly
record only once its hour has closed. An intraday refresh therefore rewrites today's partition
with the records closed so far, and the daily run completes yesterday's.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from dagster import (
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)

from quant_assets import catalog, settings
from quant_assets.automation.cadence import daily_cron, daily_minute, intraday_cron, intraday_minutes
from quant_assets.partitions import DaySymbol
from quant_assets.runs import PartitionRange

SOURCE_JOB = "source_refresh"
DAILY_SCHEDULE = "daily_sources"
INTRADAY_SCHEDULE = "intraday_sources"
TRIGGER_TAG = "quant_assets/trigger"
CATCH_UP_DAYS = 7


def source_resources() -> dict[str, str]:
    """resource key -> the source asset it feeds, in dependency order (the catalog's sources)."""
    return {spec.source.resource_key: spec.name for spec in catalog.sources()}


SOURCE_RESOURCES = source_resources()  # the product's sources (registered ones: ``source_resources()``)


def build_source_refresh_job():
    """The job the source schedules run: every catalogued source asset, with its checks."""
    return define_asset_job(
        SOURCE_JOB,
        selection=AssetSelection.assets(*source_resources().values()),
        description="Materialize the source assets (bars, derivatives, social text) for a partition range, with their checks.",
    )


source_refresh_job = build_source_refresh_job()


def external_sources(resources: dict) -> list[str]:
    """The source assets whose resource reads an exchange or dropped files, in dependency
    order (derivatives read the bars of their day); bundle-fed ones (their resource is the
    catalog's bundle twin) come through the inbox."""
    return [
        spec.name
        for spec in catalog.sources()
        if spec.source.resource_key in resources and not isinstance(resources[spec.source.resource_key], catalog.load(spec.source.bundle_twin))
    ]


def days_request(first: date, last: date, assets: list[str], universe: list[str], trigger: str, run_key: str) -> RunRequest:
    """One run over days ``first..last`` for every symbol of the universe (the partition range
    ``first|first symbol .. last|last symbol``), of ``assets`` and their checks."""
    row = PartitionRange(DaySymbol(first, universe[0]), DaySymbol(last, universe[-1]))
    return RunRequest(
        run_key=f"{trigger}:{run_key}",
        asset_selection=[AssetKey(a) for a in assets],
        tags={**row.tags, TRIGGER_TAG: trigger},
    )


def first_missed_day(instance, asset: str, yesterday: date, universe: list[str]) -> date:
    """The first of the last ``CATCH_UP_DAYS`` days (from the first partition day on) for which
    some symbol has no materialization of ``asset``; ``yesterday`` when none is missing."""
    done = instance.get_materialized_partitions(AssetKey(asset))
    first = max(settings.start_date(), yesterday - timedelta(days=CATCH_UP_DAYS - 1))
    for offset in range((yesterday - first).days):
        day = first + timedelta(days=offset)
        if any(str(DaySymbol(day, symbol)) not in done for symbol in universe):
            return day
    return yesterday


def _tick_time(context: ScheduleEvaluationContext) -> datetime:
    return context.scheduled_execution_time.astimezone(timezone.utc)


def _nothing_external() -> SkipReason:
    return SkipReason("every source reads unpacked bundles (QUANT_ASSETS_MARKET_SOURCE=bundle): new days arrive through the bundle inbox")


def build_source_schedules(external: list[str], job=None) -> list[ScheduleDefinition]:
    """The daily and intraday schedules over the ``external`` source assets (see the module doc),
    run by ``job`` (default ``source_refresh_job``; the Definitions hand in the one they mount)."""
    job = source_refresh_job if job is None else job

    @schedule(
        name=DAILY_SCHEDULE,
        cron_schedule=daily_cron(),
        execution_timezone="UTC",
        job=job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=(
            f"{daily_minute()} minutes after each UTC midnight: yesterday's partitions of {', '.join(external) or 'no source'} "
            f"for every symbol of the universe (and any of the {CATCH_UP_DAYS} days before that were missed), closed records "
            "only (QUANT_ASSETS_DAILY_MINUTE). Downstream assets follow by their automation conditions."
        ),
    )
    def daily_sources(context: ScheduleEvaluationContext):
        if not external:
            return _nothing_external()
        yesterday = _tick_time(context).date() - timedelta(days=1)
        universe = settings.universe()
        first = first_missed_day(context.instance, external[0], yesterday, universe)
        return days_request(first, yesterday, external, universe, "daily", yesterday.isoformat())

    @schedule(
        name=INTRADAY_SCHEDULE,
        cron_schedule=intraday_cron(),
        execution_timezone="UTC",
        job=job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=(
            f"Every {intraday_minutes()} minutes: today's partial partitions of {', '.join(external) or 'no source'}, "
            "rewritten with the records closed so far (QUANT_ASSETS_INTRADAY_MINUTES)."
        ),
    )
    def intraday_sources(context: ScheduleEvaluationContext):
        if not external:
            return _nothing_external()
        now = _tick_time(context)
        if now.time() == time(0):
            return SkipReason(f"no bar of {now.date()} has closed at 00:00; the daily run completes {now.date() - timedelta(days=1)}")
        return days_request(now.date(), now.date(), external, settings.universe(), "intraday", now.isoformat())

    return [daily_sources, intraday_sources]
