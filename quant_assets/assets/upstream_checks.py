"""Did every blocking check of these upstream partitions pass? Read from the Dagster instance.

Public instance APIs only: ``fetch_materializations`` filtered to the asset partitions gives
the run that last wrote it, and that run's event log (``all_logs``) holds the checks it
planned and their evaluations. The checks here judge a whole run's partitions at once
(partition-less evaluations), so the run that last wrote a partition is the one whose
checks vouch for it. A partition fails the leakage gate when it was never materialized
(unless its asset may be absent: see ``UpstreamChecks.failing``), a blocking check of that run
failed, or a planned check has no evaluation (the run died before it, or the check was
skipped).
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance

from quant_assets.partitions import DaySymbol

WRITERS_PAGE = 1000  # materialization records per instance query
CHECK_EVENTS = {DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, DagsterEventType.ASSET_CHECK_EVALUATION}


def _run_checks(instance: DagsterInstance, run_id: str, asset: str) -> tuple[set[str], dict[str, bool]]:
    """Checks of ``asset`` the run planned but never evaluated, and per evaluated blocking check whether it passed."""
    planned, evaluated, passed = set(), set(), {}
    for entry in instance.all_logs(run_id, of_type=CHECK_EVENTS):
        event = entry.dagster_event
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            data = event.asset_check_planned_data
            if data.asset_key == AssetKey(asset):
                planned.add(data.check_name)
        else:
            data = event.asset_check_evaluation_data
            if data.asset_key != AssetKey(asset):
                continue
            evaluated.add(data.check_name)
            if data.blocking is not False:  # a non-blocking check is advice, not a gate
                passed[data.check_name] = passed.get(data.check_name, True) and data.passed
    return planned - evaluated, passed


class UpstreamChecks:
    """Reads, once each, which run last wrote an upstream partition and how that run's
    blocking checks went. One per gate step: consecutive days' trailing windows share all
    but one day, so without the memo a 60-day window asks the instance 60 times per partition."""

    def __init__(self, instance: DagsterInstance):
        self._instance = instance
        self._writer: dict[tuple[str, DaySymbol], str | None] = {}
        self._runs: dict[tuple[str, str], tuple[set[str], dict[str, bool]]] = {}
        self._problems: dict[tuple[str, DaySymbol, bool], list[str]] = {}

    def read_writers(self, asset: str, parts: list[DaySymbol]) -> None:
        """The run that last wrote each of ``parts`` not read yet, in one paged query for all of
        them: one query per partition (~20 ms each on SQLite) made a daily gate of 10 symbols
        ask the instance ~4,000 times for its 60-day windows, most of the gate's time."""
        todo = {str(p.dagster_key): p for p in parts if (asset, p) not in self._writer}
        if not todo:
            return
        for part in todo.values():
            self._writer[(asset, part)] = None  # never materialized unless a record says otherwise
        found, cursor = set(), None
        while True:
            page = self._instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=list(todo)), limit=WRITERS_PAGE, cursor=cursor
            )
            for record in page.records:  # newest first: the first record of a partition is its last writer
                if record.partition_key in todo and record.partition_key not in found:
                    found.add(record.partition_key)
                    self._writer[(asset, todo[record.partition_key])] = record.run_id
            if not page.has_more or len(found) == len(todo):
                return
            cursor = page.cursor

    def _last_writer(self, asset: str, part: DaySymbol) -> str | None:
        self.read_writers(asset, [part])
        return self._writer[(asset, part)]

    def failing(self, assets: Iterable[str], parts: Iterable[DaySymbol], absent_ok: bool = False) -> list[str]:
        """One line per upstream partition whose blocking checks did not all pass, naming it.
        ``absent_ok``: a partition never materialized is not a failure (a source that was not
        collected that day was read by nobody); one that was materialized must still have passed."""
        parts, assets = list(parts), list(assets)
        for asset in assets:
            self.read_writers(asset, parts)
        return [line for part in parts for asset in assets for line in self._lines(asset, part, absent_ok)]

    def _lines(self, asset: str, part: DaySymbol, absent_ok: bool) -> list[str]:
        """The problem lines of one partition, once: consecutive windows ask about the same days."""
        key = (asset, part, absent_ok)
        if key not in self._problems:
            self._problems[key] = self._judge(asset, part, absent_ok)
        return self._problems[key]

    def _judge(self, asset: str, part: DaySymbol, absent_ok: bool) -> list[str]:
        run_id = self._last_writer(asset, part)
        if run_id is None:
            return [] if absent_ok else [f"{asset} {part}: not materialized"]
        if (run_id, asset) not in self._runs:
            self._runs[(run_id, asset)] = _run_checks(self._instance, run_id, asset)
        unevaluated, passed = self._runs[(run_id, asset)]
        failed = sorted(name for name, ok in passed.items() if not ok)
        missing = sorted(unevaluated)
        problems = []
        if failed:
            problems.append(f"{asset} {part}: {', '.join(failed)} failed (run {run_id[:8]})")
        if missing:
            problems.append(f"{asset} {part}: {', '.join(missing)} not evaluated (run {run_id[:8]})")
        return problems
