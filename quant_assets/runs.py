"""Launch materializations from Python the way a backfill would: few runs, many partitions.

A run covers a partition *range*; for ``date`` x ``symbol`` a range is a rectangle (days
d0..d1 x symbols s0..s1 in universe order). Any set of partitions is cut into a few such
rectangles, one run each, instead of one run per partition.

A long materialization reports where it stands (asset partitions done of total, the step
running, elapsed, rate) from the runs' own Dagster events, so a demo, a bundle import or a
backfill is never minutes of silence.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    EventLogEntry,
    ExecuteInProcessResult,
    JobExecutionResult,
    RunsFilter,
    execute_job,
)

# The run tags a partition-range (or one-partition) run carries: Dagster exports no public name
# for them, so this is the project's one import of them (the bundle importer and the follow-up
# sensor read them from here).
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from quant_assets.assets.checks import audit_op_name
from quant_assets.executors import celery_config, job_builder, reconstructable_asset_job, require_worker, runs_out_of_process
from quant_assets.instance import get_instance
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between


@dataclass(frozen=True)
class PartitionRange:
    first: DaySymbol
    last: DaySymbol

    @property
    def tags(self) -> dict[str, str]:
        return {
            ASSET_PARTITION_RANGE_START_TAG: str(self.first),
            ASSET_PARTITION_RANGE_END_TAG: str(self.last),
        }

    def __str__(self) -> str:
        return f"{self.first}...{self.last}"

    @classmethod
    def parse(cls, text: str) -> "PartitionRange":
        """``2025-10-01|BTC-USDT...2025-10-31|SOL-USDT``, as Dagster's ``--partition-range``."""
        first, sep, last = text.partition("...")
        if not sep:
            raise ValueError(f"partition range {text!r}: expected FIRST...LAST, e.g. 2025-10-01|BTC-USDT...2025-10-31|SOL-USDT")
        return cls(DaySymbol.parse(first.strip()), DaySymbol.parse(last.strip()))

    @classmethod
    def of_run(cls, tags: dict[str, str]) -> "PartitionRange | None":
        """The partitions a run covered, from its range tags or its one partition's tag."""
        if ASSET_PARTITION_RANGE_START_TAG in tags:
            return cls.parse(f"{tags[ASSET_PARTITION_RANGE_START_TAG]}...{tags[ASSET_PARTITION_RANGE_END_TAG]}")
        if PARTITION_NAME_TAG in tags:
            part = DaySymbol.parse(tags[PARTITION_NAME_TAG])
            return cls(part, part)
        return None

    def parts(self, universe: list[str]) -> list[DaySymbol]:
        """Every (day, symbol) the rectangle covers: its days x the symbols between its corners."""
        if self.first.symbol not in universe or self.last.symbol not in universe:
            raise ValueError(f"partition range {self}: symbols must be in the configured universe {universe}")
        symbols = universe[universe.index(self.first.symbol) : universe.index(self.last.symbol) + 1]
        days = days_between(self.first.day, self.last.day)
        if not symbols or not days:
            raise ValueError(f"partition range {self}: its first partition comes after its last")
        return [DaySymbol(day, symbol) for day in days for symbol in symbols]


def partition_ranges(parts: list[DaySymbol], universe: list[str]) -> list[PartitionRange]:
    """Cover exactly ``parts`` with rectangles; each symbol's days must be contiguous runs."""
    order = {symbol: i for i, symbol in enumerate(universe)}
    unknown = sorted({p.symbol for p in parts} - set(order))
    if unknown:
        raise ValueError(f"symbols {unknown} are not in the configured universe {universe}")
    # Contiguous day spans per symbol, then symbols with the same span merged when adjacent.
    spans: dict[tuple, list[str]] = {}
    for symbol, group in groupby(sorted(parts, key=lambda p: (order[p.symbol], p.day)), key=lambda p: p.symbol):
        days = [p.day for p in group]
        start = days[0]
        for prev, day in zip(days, days[1:] + [None]):
            if day is None or (day - prev).days != 1:
                spans.setdefault((start, prev), []).append(symbol)
                start = day
    out = []
    for (d0, d1), symbols in sorted(spans.items()):
        block = [symbols[0]]
        for symbol in symbols[1:] + [None]:
            if symbol is not None and order[symbol] == order[block[-1]] + 1:
                block.append(symbol)
                continue
            out.append(PartitionRange(DaySymbol(d0, block[0]), DaySymbol(d1, block[-1])))
            block = [symbol]
    return out


@dataclass(frozen=True)
class Progress:
    """Where one ``materialize`` call stands, over all its runs."""

    done: int  # asset partitions materialized so far
    total: int  # assets x partitions asked for
    assets_done: int  # assets with every partition materialized
    assets_total: int
    elapsed_s: float
    running: str = ""  # the asset whose step runs now; "" while its checks (or nothing) run
    finished: bool = False
    # Asset partitions Dagster has recorded as planned: a run of many partitions spends its
    # first seconds or minutes on that bookkeeping, before any step starts.
    planned: int = 0

    @property
    def rate(self) -> float:
        """Asset partitions per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        state = "done" if self.finished else f"running {self.running}" if self.running else "materializing"
        planning = f" ({self.planned} planned)" if self.planned < self.total and not self.finished else ""
        return (
            f"materialize: {state}; {self.assets_done}/{self.assets_total} assets, "
            f"{self.done}/{self.total} asset partitions{planning}, {_duration(self.elapsed_s)} elapsed, "
            f"{self.rate:.1f} partitions/s"
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


ProgressReport = Callable[[Progress], None]
PROGRESS_EVERY_S = 2.0


class ProgressLines:
    """Progress as lines (stderr by default). Nothing while a job is short (under ``every_s``);
    then a line when an asset's step starts, when partitions were done (at most one line every
    ``every_s``), every ``heartbeat_s`` while a long step emits nothing, and the final line."""

    def __init__(self, every_s: float | None = None, write: Callable[[str], None] | None = None, heartbeat_s: float = 30.0):
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.heartbeat_s = heartbeat_s
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.last_s, self.last_counts = 0.0, (0, 0)
        self.last_running, self.step_started = "", False

    def __call__(self, progress: Progress) -> None:
        if progress.running and progress.running != self.last_running:
            self.step_started = True  # kept until printed: a step may start in the quiet spell
        self.last_running = progress.running
        if progress.elapsed_s < self.every_s:
            return  # a short job stays quiet, so a refusal or a quick run is just its own lines
        since = progress.elapsed_s - self.last_s
        counts = (progress.done, progress.planned)
        moved = counts != self.last_counts and since >= self.every_s
        if progress.finished or self.step_started or moved or since >= self.heartbeat_s:
            self.last_s, self.last_counts, self.step_started = progress.elapsed_s, counts, False
            self.write(progress.line())


class _Tally:
    """Counts one ``materialize`` call's materializations from its runs' Dagster events, and
    reports on each event and on a clock tick (a long step emits no events for minutes)."""

    def __init__(self, assets: list[str], partitions: int, report: ProgressReport):
        self.per_asset = dict.fromkeys(assets, 0)
        self.planned = 0
        self.step_asset = {AssetKey(a).to_python_identifier(): a for a in assets}  # op name -> asset
        self.partitions, self.report = partitions, report
        self.started = time.perf_counter()
        self.running = ""
        self.lock = threading.Lock()  # events arrive on the run's thread, ticks on the ticker's

    def on_event(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            return
        with self.lock:
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                key = event.asset_key.to_user_string()
                if key in self.per_asset:
                    self.per_asset[key] += 1
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                self.planned += 1
            elif event.event_type == DagsterEventType.STEP_START:
                self.running = self.step_asset.get(event.step_key or "", "")
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                self.running = ""
            else:
                return
            self._report(self.snapshot())

    def tick(self, finished: bool = False) -> None:
        with self.lock:
            self._report(self.snapshot(finished))

    def _report(self, progress: Progress) -> None:
        try:
            self.report(progress)
        except OSError:
            pass  # a closed or broken stderr must not fail the run it reports on

    def ticking(self, every_s: float):
        """Report every ``every_s`` seconds from a daemon thread while the block runs."""
        return repeating(every_s, self.tick, "materialize-progress")

    def snapshot(self, finished: bool = False) -> Progress:
        return Progress(
            done=sum(self.per_asset.values()),
            total=len(self.per_asset) * self.partitions,
            assets_done=sum(n >= self.partitions for n in self.per_asset.values()),
            assets_total=len(self.per_asset),
            elapsed_s=time.perf_counter() - self.started,
            running="" if finished else self.running,
            finished=finished,
            planned=self.planned,
        )


@contextmanager
def repeating(every_s: float, call, name: str) -> Iterator[None]:
    """Call ``call()`` every ``every_s`` seconds from a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            call()

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def materialize(
    defs: Definitions,
    assets: list[str],
    parts: list[DaySymbol],
    universe: list[str],
    instance: DagsterInstance,
    tags: dict[str, str] | None = None,
    log_level: str = "WARNING",
    progress: ProgressReport | None = None,
    partition_key: str | None = None,
    across: ProcessRuns | None = None,
) -> list[ExecuteInProcessResult | JobExecutionResult | RunOutcome]:
    """Materialize ``assets`` (and their checks) for ``parts``, one run per rectangle; or, for
    assets of another partitions definition (a study's report), the one ``partition_key``.

    ``across`` (in-process runs only): the symbols are cut into as many contiguous groups as it
    has workers (:func:`symbol_groups`) and each group's runs go to a worker of its own, all at
    once; only for assets whose partitions of one symbol never wait on another symbol's in the
    same run. Each worker then reports its own progress lines, and the results are
    ``RunOutcome``s.

    ``progress`` gets a ``Progress`` at every step start and end, every materialization and
    every ``PROGRESS_EVERY_S`` seconds, and a last one with ``finished`` set; by default
    ``ProgressLines`` on stderr.

    Runs execute in this process, except with ``QUANT_ASSETS_EXECUTOR=celery``: then each run
    goes through the Celery executor (steps on ``quant-assets worker`` processes, the instance
    must be persistent; it is refused in one line when no worker listens), and its progress is
    read from the events the workers store.
    """
    job = defs.resolve_implicit_global_asset_job_def()
    # Dagster's console logger prints a DEBUG line per event; a CLI wants only problems.
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    selection = [AssetKey(a) for a in assets]
    tally = _Tally(assets, 1 if partition_key is not None else len(parts), progress or ProgressLines())
    results = []
    # QUANT_ASSETS_EXECUTOR=celery: the run goes through the definitions' executor, so its
    # steps fan out to the workers, who rebuild the job from this pointer.
    recon = reconstructable_asset_job(job_builder(defs), assets) if runs_out_of_process(defs) else None
    if recon is not None:
        require_worker(celery_config())
    groups = symbol_groups(parts, universe, across.size) if across and recon is None and partition_key is None else [parts]
    if len(groups) > 1:
        return across.run(job_builder(defs), assets, groups, universe, tags, log_level)
    runs = [(rect.tags, None) for rect in partition_ranges(parts, universe)] if partition_key is None else [({}, partition_key)]
    with tally.ticking(max(PROGRESS_EVERY_S, 0.25)):
        for run_partition_tags, key in runs:
            run_tags = {**run_partition_tags, **(tags or {})}
            if recon is not None:
                results.append(_execute_out_of_process(recon, instance, selection, quiet, run_tags, tally, key))
                continue
            # The instance calls the listener with each event the in-process run stores.
            run_id = str(uuid.uuid4())
            instance.add_event_listener(run_id, tally.on_event)
            results.append(
                job.execute_in_process(
                    instance=instance,
                    asset_selection=selection,
                    run_config=quiet,
                    run_id=run_id,
                    tags=run_tags,
                    partition_key=key,
                    raise_on_error=False,
                )
            )
    tally.tick(finished=True)
    return results


# ---- one materialization cut by symbol over processes ------------------------------------
#
# Most of a partition's cost in a long backfill is Dagster storing its events: SQLite commits
# and closes, which wait on the disk (measured here: 70% of a labels run's event time). One
# process waits in turn; two overlap the waits and use both cores for the rest.


@dataclass(frozen=True)
class RunOutcome:
    """What a run in another process ended as (a Dagster result does not cross processes)."""

    run_id: str
    success: bool


def symbol_groups(parts: list[DaySymbol], universe: list[str], groups: int) -> list[list[DaySymbol]]:
    """``parts`` cut into at most ``groups`` sets of whole symbols, contiguous in universe order
    (so each stays a few rectangles), as even in partitions as the symbols allow."""
    order = {symbol: i for i, symbol in enumerate(universe)}
    symbols = sorted({p.symbol for p in parts}, key=lambda s: order.get(s, len(order)))
    if groups <= 1 or len(symbols) <= 1:
        return [parts]
    count = Counter(p.symbol for p in parts)
    k = min(groups, len(symbols))
    cuts: list[list[str]] = [[]]
    done = 0
    for symbol in symbols:
        if cuts[-1] and done >= len(parts) / k * len(cuts) and len(cuts) < k:
            cuts.append([])  # this group holds its share: the next symbol starts the next group
        cuts[-1].append(symbol)
        done += count[symbol]
    return [[p for p in parts if p.symbol in group] for group in map(set, cuts)]


class ProcessRuns:
    """Worker processes for ``materialize(..., across=...)``, started once for many calls (a
    worker's start, its imports and the definitions it rebuilds take seconds). Use as a
    context manager; with ``size`` 1 it starts nothing and ``materialize`` runs as without it.

    ``rebuild(builder)`` gives a worker the definitions the launching process runs (the
    launcher hands in ``definitions.asset_definitions``; a module-level function, so it
    reaches the worker by name).

    spawn, not fork: the launching process holds threads (the progress ticker, torch's pools)
    and database connections that a fork would copy half-way. Workers read the settings from
    the environment as it is when the first call starts them."""

    def __init__(self, size: int, rebuild: Callable[[str], Definitions]):
        self.size = size
        self.rebuild = rebuild
        self._pool = None

    def __enter__(self) -> ProcessRuns:
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def run(self, builder: str, assets: list[str], groups: list[list[DaySymbol]], universe: list[str], tags, log_level) -> list[RunOutcome]:
        """Each group's runs in a worker, all groups at once; their outcomes in group order."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.size, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_exit_with, initargs=(os.getpid(),))  # fmt: skip
        futures = [self._pool.submit(_materialize_group, self.rebuild, builder, assets, g, universe, tags, log_level) for g in groups]
        return [outcome for f in futures for outcome in f.result()]


_WORKER_DEFINITIONS: dict[str, Definitions] = {}  # in a worker: the definitions it rebuilt, per builder


def _materialize_group(rebuild: Callable[[str], Definitions], builder: str, assets, parts, universe, tags, log_level) -> list[RunOutcome]:
    """In a worker: the same definitions (rebuilt once from the same settings), the same
    instance, the group's runs in-process, progress lines labelled with the group."""
    if builder not in _WORKER_DEFINITIONS:
        _WORKER_DEFINITIONS[builder] = rebuild(builder)
    symbols = sorted({p.symbol for p in parts}, key=universe.index)
    label = f"[{symbols[0]}..{symbols[-1]}]" if len(symbols) > 1 else f"[{symbols[0]}]"
    with get_instance() as instance:
        results = materialize(_WORKER_DEFINITIONS[builder], assets, parts, universe, instance, tags=tags, log_level=log_level,
                              progress=ProgressLines(write=lambda line: print(f"{label} {line}", file=sys.stderr, flush=True)))  # fmt: skip
    return [RunOutcome(r.run_id, r.success) for r in results]


def _exit_with(parent_pid: int) -> None:
    """A worker whose launching process died (killed) stops too, instead of finishing runs that
    a resumed command would launch again beside it. Also the workers' initializer."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


LAUNCH_TAG = "quant_assets/launch"  # finds a run launched out of process while it runs
FOLLOW_EVERY_S = 0.5


def _execute_out_of_process(recon, instance, selection, run_config, tags, tally: _Tally, partition_key: str | None = None) -> JobExecutionResult:
    """One run through the definitions' executor (``execute_job`` of a job pointer), its
    progress read from the instance while it runs: the steps' events are stored by workers,
    so no listener in this process sees them."""
    token = uuid.uuid4().hex
    follower = _RunFollower(instance, token, tally)
    with repeating(FOLLOW_EVERY_S, follower.poll, "materialize-follow"):
        if partition_key is not None:
            tags = {**tags, PARTITION_NAME_TAG: partition_key}
        result = execute_job(recon, instance, run_config=run_config, tags={**tags, LAUNCH_TAG: token}, asset_selection=selection)
    follower.poll()  # what was stored since the last poll
    return result


class _RunFollower:
    """Feeds the tally the stored events of the run tagged ``token``, each once, in order."""

    def __init__(self, instance: DagsterInstance, token: str, tally: _Tally):
        self.instance, self.token, self.tally = instance, token, tally
        self.run_id: str | None = None
        self.cursor: str | None = None

    def poll(self) -> None:
        if self.run_id is None:
            found = self.instance.get_run_ids(RunsFilter(tags={LAUNCH_TAG: self.token}), limit=1)
            if not found:
                return
            self.run_id = found[0]
        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=1000)
            for record in page.records:
                self.tally.on_event(record.event_log_entry)
            self.cursor = page.cursor
            if not page.has_more:
                return


# ---- a range whose bad partitions cost only themselves -------------------------------------

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 3
SHOWN = 20  # partitions named per line of the summary; all are counted


@dataclass
class RangeOutcome:
    """What became of every partition a range asked for: published, held back (quarantined
    or not yet available, with the reason), or skipped because an upstream partition was held
    back; and the runs that failed for any other reason."""

    asked: dict[str, list[DaySymbol]]
    published: dict[str, set[DaySymbol]] = field(default_factory=dict)
    held: dict[str, dict[DaySymbol, str]] = field(default_factory=dict)
    skipped: dict[str, dict[DaySymbol, str]] = field(default_factory=dict)  # asset -> part -> the upstream asset that held it
    errors: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "failed" if self.errors else "partial" if self.held or self.skipped else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "partial": EXIT_PARTIAL, "failed": EXIT_FAILED}[self.status]

    def lines(self) -> list[str]:
        """The summary a command ends with: the outcome and exit status, then per kind which
        partitions (and why)."""
        out = [f"materialize: {self.status} (exit {self.exit_code}); {len(self.run_ids)} runs"]
        out.append("published: " + ", ".join(f"{asset} {len(self.published.get(asset, ()))}/{len(parts)}" for asset, parts in self.asked.items()))
        for asset, held in self.held.items():
            for part, why in sorted(held.items())[:SHOWN]:
                out.append(f"held back: {asset} {part} {why}")
            if len(held) > SHOWN:
                out.append(f"held back: {asset} and {len(held) - SHOWN} more partitions (see the quarantine reports)")
        for asset, skipped in self.skipped.items():
            by_upstream: dict[str, list[DaySymbol]] = {}
            for part, upstream in skipped.items():
                by_upstream.setdefault(upstream, []).append(part)
            for upstream, parts in sorted(by_upstream.items()):
                named = ", ".join(str(p) for p in sorted(parts)[:SHOWN]) + (f" and {len(parts) - SHOWN} more" if len(parts) > SHOWN else "")
                out.append(f"skipped: {asset} {named} (their {upstream} partitions were held back)")
        out += [f"failed: {line}" for line in self.errors]
        return out


def backfill(
    defs: Definitions,
    assets: list[str],
    parts: list[DaySymbol],
    universe: list[str],
    instance: DagsterInstance,
    lake: ParquetLake,
    tags: dict[str, str] | None = None,
    progress: ProgressReport | None = None,
) -> RangeOutcome:
    """Materialize ``assets`` for ``parts`` (:func:`materialize`), so that a held-back
    partition costs only itself and what is downstream of it.

    A run in which some partitions of an asset were held back by its blocking checks fails
    (Dagster then shows them failed, and skips the run's downstream steps); the assets that
    did not run are requested again for the run's partitions that were published, and so on
    until every asked partition is published, held back or skipped because of one that was.
    """
    outcome = RangeOutcome(asked={asset: list(parts) for asset in assets})
    todo = [(list(assets), list(parts))]
    while todo:
        selected, wanted = todo.pop(0)
        results = materialize(defs, selected, wanted, universe, instance, tags=tags, progress=progress)
        for rect, result in zip(partition_ranges(wanted, universe), results):
            outcome.run_ids.append(result.run_id)
            follow = _settle_run(outcome, selected, set(rect.parts(universe)) & set(wanted), result, lake)
            if follow is not None:
                todo.append(follow)
    return outcome


def _settle_run(outcome: RangeOutcome, selected: list[str], covered: set[DaySymbol], result, lake: ParquetLake):
    """Book one run's partitions into ``outcome``; returns the follow-up (assets, partitions)
    for the assets the run skipped, or None."""
    materialized: dict[str, set[DaySymbol]] = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        materialized.setdefault(key, set()).add(DaySymbol.parse(event.partition))
    held = held_in_run(lake, selected, result.run_id)
    for asset in selected:
        done = materialized.get(asset, set())
        if asset in held:  # a step that held partitions back recorded the others' materializations itself
            done = (done | covered) - set(held[asset])
        outcome.published.setdefault(asset, set()).update(done & covered)
        if asset in held:
            outcome.held.setdefault(asset, {}).update(held[asset])
    if result.success:
        return None
    failed = {e.step_key: _error_line(e) for e in result.get_step_failure_events()}
    follow = follow_up(selected, set(materialized), held, covered, failed)
    if follow is None:
        outcome.errors += [f"run {result.run_id}: {line}" for line in run_errors(held, failed)]
        return None
    rest, parts, skipped = follow
    for asset in skipped:
        outcome.skipped.setdefault(asset, {}).update(skipped[asset])
    return (rest, parts) if rest and parts else None


def follow_up(
    selected: list[str],
    materialized: set[str],
    held: dict[str, dict[DaySymbol, str]],
    covered: set[DaySymbol],
    failed_steps: dict[str, str],
) -> tuple[list[str], list[DaySymbol], dict[str, dict[DaySymbol, str]]] | None:
    """After a failed run of ``selected`` over ``covered``: when its only failures are assets
    that held partitions back (their steps or audits), the assets it did not run, for the
    partitions no held one blocks, and per skipped asset the partitions with the held asset. None
    when something else failed (that run is an error, not a partial outcome)."""
    if run_errors(held, failed_steps):
        return None
    rest = [a for a in selected if a not in materialized and a not in held]
    dropped = {part: asset for asset, parts in held.items() for part in parts}
    skipped = {asset: dict(dropped) for asset in rest}
    return rest, sorted(covered - set(dropped)), skipped


def run_errors(held: dict[str, dict[DaySymbol, str]], failed_steps: dict[str, str]) -> list[str]:
    """The failed steps that are not an asset holding partitions back (its step or its audit)."""
    owners = {name for asset in held for name in (asset, audit_op_name(asset))}
    errors = [f"{step}: {line}" for step, line in failed_steps.items() if step not in owners]
    return errors or ([] if held else ["failed with no step failure"])


def held_in_run(lake: ParquetLake, assets: list[str], run_id: str) -> dict[str, dict[DaySymbol, str]]:
    """Per asset, the partitions run ``run_id`` held back (from their quarantine reports),
    each with its state and why; assets that held none are left out."""
    out = {}
    for asset in assets:
        held = {}
        for part in lake.quarantined(asset):
            report = lake.quarantine_report(asset, part)
            if report and report.get("run_id") == run_id:
                reasons = "; ".join(f"{f['check']}: {f['why']}" for f in report["failed_checks"])
                held[part] = f"{report.get('state', 'quarantined')}: {reasons}"
        if held:
            out[asset] = held
    return out


def _error_line(event) -> str:
    data = event.step_failure_data
    user = data.user_failure_data
    if user is not None and user.description:
        return " ".join(user.description.split())
    error = data.error
    while error is not None and error.cause is not None and "DagsterExecutionStepExecutionError" in error.cls_name:
        error = error.cause  # the user code's own error, not Dagster's wrapper around it
    return " ".join((error.message if error else "failed").split())
