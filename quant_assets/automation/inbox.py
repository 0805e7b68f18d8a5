"""The bundle inbox: drop a bundle in ``<home>/inbox/`` and it is imported, once, with no command.

The sensor verifies and unpacks each settled ``*.tar.gz`` in the inbox exactly as
``quant-assets bundle import`` does (``bundles.unpack.unpack`` with the same universe and first-day
check), then files it away: into ``inbox/imported/`` with an import run requested, or into
``inbox/refused/`` beside a ``.why.txt`` holding the one-line reason, which the tick log shows
too. A refusal never stops the sensor: the next file is tried in the same tick. The run
(``bundle_import`` job) materializes the unpacked bundle through the importer
(``bundles.importer.materialize``: its partitions, with their checks, rolled back on a failure),
and the downstream assets follow by their automation conditions. ``definitions.py`` builds
that job (``build_bundle_import_job``) and hands it the bundle-import definitions.

Verification happens in the tick, not the run, so that a bad bundle is refused where the
sensor's log shows it, and a good one is requested once: the run key is the bundle id and the
file's drop time, so the same drop is never run twice, even if the tick was cut short before
filing the file away. A file still being copied in is left for a later tick: only files
untouched for ``QUANT_ASSETS_INBOX_SETTLE_S`` seconds are read.
"""

import time
from collections.abc import Callable
from pathlib import Path

from dagster import (
    Config,
    DefaultSensorStatus,
    Definitions,
    Failure,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    job,
    op,
    sensor,
)

from quant_assets import settings
from quant_assets.bundles.importer import BUNDLE_ID_TAG, RunOutcome, import_partitions
from quant_assets.bundles.limits import BundleLimits
from quant_assets.bundles.lock import bundle_lock
from quant_assets.bundles.manifest import BundleError, Manifest, one_line
from quant_assets.bundles.unpack import Unpacking, check_fits_settings, unpack
from quant_assets.bundles.unpacked import MANIFEST_NAME, load_unpacked
from quant_assets.lake.store import ParquetLake

INBOX_SENSOR = "bundle_inbox"
IMPORT_JOB = "bundle_import"
IMPORT_OP = "import_unpacked_bundle"
IMPORTED, REFUSED = "imported", "refused"
INBOX_FILE_TAG = "quant_assets/inbox_file"
# A tick stops unpacking new files after this long (the daemon gives a tick 60 s); the rest wait.
TICK_BUDGET_S = 20.0


def inbox_folder() -> Path:
    root = settings.home().root
    if "://" in root:
        raise settings.SettingsError(f"QUANT_ASSETS_HOME={root!r} is not local; the bundle inbox needs a local folder")
    return Path(root) / "inbox"


def settle_s() -> float:
    """Seconds a dropped file must be left untouched before it is read (default 10)."""
    return settings.current().automation.inbox_settle_s


def settled_drops(inbox: Path, now_s: float, settle: float) -> list[Path]:
    """The ``*.tar.gz`` files directly in ``inbox`` untouched for ``settle`` seconds, oldest first."""
    drops = [p for p in inbox.iterdir() if p.is_file() and p.name.endswith(".tar.gz")]
    return sorted((p for p in drops if now_s - p.stat().st_mtime >= settle), key=lambda p: (p.stat().st_mtime_ns, p.name))


def file_away(path: Path, folder: str, why: str | None = None) -> Path:
    """Move a processed drop into ``inbox/<folder>/`` (never over an earlier file of that name)."""
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stat().st_mtime_ns}-{path.name}"
    path.rename(target)
    if why is not None:
        target.with_name(target.name + ".why.txt").write_text(why + "\n")
    return target


class UnpackedBundleConfig(Config):
    bundle_id: str
    dropped_as: str = ""


ImportDefinitions = Callable[[settings.HomeLayout], Definitions]


def build_bundle_import_job(import_definitions: ImportDefinitions) -> JobDefinition:
    """The ``bundle_import`` job the inbox sensor requests. ``import_definitions(home)`` gives
    the definitions an unpacked bundle is materialized through (the code location's with the
    bundle twins of its sources): handed in by ``definitions.py``, which builds them, so this
    module never rebuilds the Definitions it is part of."""

    @op(name=IMPORT_OP, description="Materialize an unpacked bundle's partitions through the importer (checks, provenance, rollback).")
    def import_unpacked_bundle(context: OpExecutionContext, config: UnpackedBundleConfig) -> dict:
        home = settings.home()
        root = Path(home.bundles) / config.bundle_id
        if not (root / MANIFEST_NAME).exists():
            raise Failure(f"bundle {config.bundle_id} is not unpacked under {home.bundles}; drop its file in the inbox again")
        unpacking = Unpacking(load_unpacked(root), Manifest.from_json((root / MANIFEST_NAME).read_text()), fresh=False)

        def on_run(outcome: RunOutcome) -> None:
            state = "ok" if outcome.success and not outcome.checks_failed else "FAILED"
            context.log.info(f"{outcome.asset} {outcome.partitions}: {state}, {len(outcome.checks_passed)} checks passed (run {outcome.run_id})")

        with bundle_lock(home.bundles, BundleLimits.from_env().lock_timeout_s, context.log.info):
            report = import_partitions(
                unpacking, import_definitions(home), context.instance, settings.universe(), ParquetLake(home.lake), on_run=on_run
            )
        done = sum(len(p) for p in report.materialized.values())
        summary = f"bundle {config.bundle_id} ({config.dropped_as or 'inbox'}): {len(report.runs)} runs, {done} partitions materialized"
        if not report.ok:
            raise Failure(f"{summary}; {report.failure_line()}; the lake was left as it was")
        for warning in report.checks_warned:
            context.log.warning(warning)
        context.log.info(summary)
        return {"bundle_id": config.bundle_id, "runs": len(report.runs), "partitions_materialized": done}

    @job(name=IMPORT_JOB, description="Import one bundle the inbox sensor unpacked: materialize its partitions with their checks.")
    def bundle_import_job():
        import_unpacked_bundle()

    return bundle_import_job


def scan_inbox(context: SensorEvaluationContext, now_s: float) -> SensorResult | SkipReason:
    """One tick: unpack every settled drop, file it away, and request an import run per unpacked one."""
    inbox = inbox_folder()
    inbox.mkdir(parents=True, exist_ok=True)
    ready = settled_drops(inbox, now_s, settle_s())
    if not ready:
        return SkipReason(f"no settled *.tar.gz in {inbox}")
    home = settings.home()
    try:
        with bundle_lock(home.bundles, 0):  # an import or export under way: try again next tick
            requests, refusals = _unpack_ready(context, ready, settings.universe(), settings.start_date())
    except BundleError as err:
        return SkipReason(f"{one_line(err)}; the inbox is read again next tick")
    if requests:
        return SensorResult(run_requests=requests)
    return SkipReason("; ".join(refusals))


def _unpack_ready(context: SensorEvaluationContext, ready: list[Path], universe: list[str], start) -> tuple[list, list]:
    requests, refusals, started = [], [], time.monotonic()
    for path in ready:
        if time.monotonic() - started > TICK_BUDGET_S:
            context.log.info(f"inbox: {len(ready) - len(requests) - len(refusals)} drops left for the next tick")
            break
        outcome = _unpack_one(context, path, universe, start)
        (requests if isinstance(outcome, RunRequest) else refusals).append(outcome)
    return requests, refusals


def _unpack_one(context: SensorEvaluationContext, path: Path, universe: list[str], start) -> RunRequest | str:
    """Unpack one drop: a run request, or the refusal line (logged, and the file filed away)."""
    dropped_ns = path.stat().st_mtime_ns
    try:
        unpacking = unpack(path, settings.home().bundles, admit=lambda manifest: check_fits_settings(manifest, universe, start))
    except Exception as err:  # noqa: BLE001 - any failure refuses this file only; the inbox goes on
        line = f"inbox: {path.name} refused: {one_line(err)}"
        context.log.warning(line)
        file_away(path, REFUSED, why=line)
        return line
    bundle_id = unpacking.bundle.bundle_id
    context.log.info(f"inbox: {path.name}: bundle {bundle_id} {'unpacked' if unpacking.fresh else 'already unpacked'}; import run requested")
    file_away(path, IMPORTED)
    return RunRequest(
        run_key=f"{bundle_id}@{dropped_ns}",
        run_config={"ops": {IMPORT_OP: {"config": {"bundle_id": bundle_id, "dropped_as": path.name}}}},
        tags={BUNDLE_ID_TAG: bundle_id, INBOX_FILE_TAG: path.name},
    )


@sensor(
    name=INBOX_SENSOR,
    job_name=IMPORT_JOB,  # the job definitions.py builds with build_bundle_import_job
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Imports each bundle dropped in <QUANT_ASSETS_HOME>/inbox/ once: verifies and unpacks it (refusals are logged in "
        "this tick's log and the file moved to inbox/refused/ with a .why.txt), then requests a bundle_import run; the "
        "file moves to inbox/imported/."
    ),
)
def bundle_inbox_sensor(context: SensorEvaluationContext):
    return scan_inbox(context, time.time())
