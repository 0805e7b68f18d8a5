"""Import a bundle: verify every byte, land it all or nothing, then materialise through Dagster.

Landing streams the archive once (it is never held in memory, and ``extractall`` is never
used) into a staging folder beside the landed bundles, never into the lake. Each member is
checked as it arrives: a safe relative name, a plain file, listed in the manifest (which must
come first), the manifest's size and SHA-256, and a parquet file with the manifest's row count
and schema, the asset's registered schema and unique keys. Only when all of it holds is the
staging folder renamed to ``<bundles_root>/<bundle_id>/``: that rename is the commit. Any
refusal removes the staging folder, so the lake and the landed bundles are left as they were.

Materialising then runs the bundle's own assets for its partitions, reading the landed files
through the ``bundle`` market-data source, so imported data passes the same blocking checks
as ingested data and Dagster records where each partition came from.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from quant_assets import runs
from quant_assets.bundles.coverage import held_partitions, import_steps
from quant_assets.bundles.landed import LANDED_NAME, LandedBundle, load_landed
from quant_assets.bundles.manifest import (
    MANIFEST_NAME,
    BundleError,
    FileEntry,
    Manifest,
    Progress,
    describe_parquet,
)
from quant_assets.lake.store import ParquetLake, fsync_dir
from quant_assets.partitions import DaySymbol

BUNDLE_ID_TAG = "quant_assets/bundle_id"
STAGING_PREFIX = ".staging-"
MAX_MANIFEST_BYTES = 64 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Landing:
    bundle: LandedBundle
    manifest: Manifest
    fresh: bool  # False when this very bundle had landed before: nothing was written


def verify_and_land(
    archive_path: str | os.PathLike,
    bundles_root: str | os.PathLike,
    progress: Progress | None = None,
    admit: Callable[[Manifest], None] | None = None,
) -> LandedBundle:
    """Verify ``archive_path`` completely and land it under ``bundles_root``; see ``land``."""
    return land(archive_path, bundles_root, progress, admit).bundle


def land(
    archive_path: str | os.PathLike,
    bundles_root: str | os.PathLike,
    progress: Progress | None = None,
    admit: Callable[[Manifest], None] | None = None,
) -> Landing:
    """Verify and land a bundle, all or nothing; raise ``BundleError`` naming any problem.

    ``admit`` sees the verified manifest before the commit and may refuse it (the CLI checks
    the bundle fits the configured universe there). Landing a bundle that already landed
    verifies it again and then changes nothing.
    """
    archive = Path(archive_path)
    if not archive.is_file():
        raise BundleError(f"{archive}: no such bundle file")
    if "://" in str(bundles_root):
        raise BundleError(f"bundles land on a local disk; {bundles_root} is not a local path")
    root = Path(bundles_root)
    created = _missing_folders(root)
    staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        staging.mkdir(parents=True)
        manifest, archive_sha256 = _verify_into(archive, staging, progress)
        if admit:
            admit(manifest)
        return _commit(staging, root / manifest.bundle_id, manifest, archive_sha256)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        # A refusal leaves no trace, not even the empty folders staging needed.
        for folder in created:
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()


def check_fits_settings(manifest: Manifest, universe: list[str], start: date) -> None:
    """Refuse partitions Dagster could not materialise here: unknown symbols, days too early."""
    symbols = sorted({f.symbol for f in manifest.files} - set(universe))
    if symbols:
        raise BundleError(
            f"bundle {manifest.bundle_id} holds symbols {', '.join(symbols)} that are not in the universe "
            f"({', '.join(universe)}); add them to QUANT_ASSETS_SYMBOLS, or import with --land-only"
        )
    first = min(f.partition.day for f in manifest.files)
    if first < start:
        raise BundleError(
            f"bundle {manifest.bundle_id} starts on {first}, before the first partition day {start}; "
            f"set QUANT_ASSETS_START_DATE={first} or earlier, or import with --land-only"
        )


def _missing_folders(root: Path) -> list[Path]:
    """``root`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not root.exists():
        missing.append(root)
        root = root.parent
    return missing


# ---- verification ----------------------------------------------------------------------


class _HashingReader:
    """Passes the archive's raw bytes through, hashing them: one read serves both."""

    def __init__(self, handle):
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


def _verify_into(archive: Path, staging: Path, progress: Progress | None) -> tuple[Manifest, str]:
    """Stream the archive into ``staging``, checking everything; returns (manifest, archive sha)."""
    manifest: Manifest | None = None
    seen: set[str] = set()
    with open(archive, "rb") as handle:
        raw = _HashingReader(handle)
        try:
            # GzipFile (not tarfile's own gzip reader) checks the trailer's CRC and length,
            # so an archive cut short or damaged anywhere is caught, even in padding.
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    for member in tar:
                        name = _safe_name(member)
                        if member.isdir():
                            continue
                        if not name:
                            raise BundleError(f"member {member.name!r} is a file without a name")
                        if name in seen:
                            raise BundleError(f"member {name} appears twice in the archive")
                        seen.add(name)
                        if manifest is None:
                            manifest = _read_manifest(tar, member, name, staging)
                            continue
                        entry = manifest.entry(name)
                        if entry is None:
                            raise BundleError(f"member {name} is not listed in {MANIFEST_NAME}")
                        _check_file(entry, *_stage(tar.extractfile(member), staging / name), staging / name)
                        if progress:
                            progress(len(seen) - 1, len(manifest.files), f"verified {name}")
                while gz.read(_CHUNK):  # through the gzip trailer: CRC and length
                    pass
            while raw.read(_CHUNK):
                pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise BundleError(f"{archive.name} is truncated or corrupt ({_one_line(err)})") from None
    if manifest is None:
        raise BundleError(f"{MANIFEST_NAME} is missing: {archive.name} holds no files")
    missing = [f.path for f in manifest.files if f.path not in seen]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BundleError(f"{MANIFEST_NAME} lists {missing[0]}{more}, which the archive does not hold")
    return manifest, raw.sha256.hexdigest()


def _safe_name(member: tarfile.TarInfo) -> str:
    """The member's relative name, or a refusal: absolute, ``..``, links, devices, fifos."""
    name = member.name
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BundleError(f"member {name!r} has '..' in its path")
    if member.issym():
        raise BundleError(f"member {name!r} is a symbolic link (to {member.linkname!r}); bundles hold plain files")
    if member.islnk():
        raise BundleError(f"member {name!r} is a hard link (to {member.linkname!r}); bundles hold plain files")
    if member.ischr() or member.isblk():
        raise BundleError(f"member {name!r} is a device file; bundles hold plain files")
    if member.isfifo():
        raise BundleError(f"member {name!r} is a fifo; bundles hold plain files")
    if not (member.isdir() or (member.isreg() and not member.issparse())):
        raise BundleError(f"member {name!r} has tar type {member.type!r}; bundles hold plain files")
    return "/".join(parts)


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, staging: Path) -> Manifest:
    if name != MANIFEST_NAME:
        raise BundleError(
            f"{MANIFEST_NAME} is missing or misplaced: the archive's first file is {name} (the manifest must come first)"
        )
    if member.size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST_NAME} is {member.size} bytes, over the {MAX_MANIFEST_BYTES} limit")
    text = tar.extractfile(member).read()
    manifest = Manifest.from_json(text)
    (staging / MANIFEST_NAME).write_bytes(text)
    return manifest


def _stage(source, target: Path) -> tuple[str, int]:
    """Copy one member to ``target``, hashing as it goes; returns (sha256, bytes)."""
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _check_file(entry: FileEntry, sha256: str, size: int, staged: Path) -> None:
    if sha256 != entry.sha256:
        raise BundleError(f"{entry.path}: sha256 mismatch: the file hashes to {sha256}, the manifest says {entry.sha256}")
    if size != entry.bytes:
        raise BundleError(f"{entry.path}: size mismatch: the file has {size} bytes, the manifest says {entry.bytes}")
    rows, schema = describe_parquet(entry.asset, str(staged), where=entry.path)
    if rows != entry.rows:
        raise BundleError(f"{entry.path}: row count mismatch: the file has {rows} rows, the manifest says {entry.rows}")
    if schema != entry.schema:
        diff = sorted(
            f"{c}: file {schema.get(c, 'absent')}, manifest {entry.schema.get(c, 'absent')}"
            for c in set(schema) | set(entry.schema)
            if schema.get(c) != entry.schema.get(c)
        )
        raise BundleError(f"{entry.path}: schema mismatch with the manifest: {'; '.join(diff)}")


def _commit(staging: Path, final: Path, manifest: Manifest, archive_sha256: str) -> Landing:
    """Publish the staged bundle with one rename; a bundle already landed is left alone."""
    if (final / LANDED_NAME).exists():
        return Landing(load_landed(final), manifest, fresh=False)
    landed = {
        "bundle_id": manifest.bundle_id,
        "bundle_sha256": archive_sha256,
        "landed_at": datetime.now(timezone.utc).isoformat(),
    }
    (staging / LANDED_NAME).write_text(json.dumps(landed, indent=1) + "\n")
    if final.exists():
        # Only a folder without LANDED.json, which no reader looks at: not a landed bundle.
        shutil.rmtree(final)
    os.rename(staging, final)
    fsync_dir(final.parent)
    return Landing(load_landed(final), manifest, fresh=True)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


# ---- materialisation --------------------------------------------------------------------


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


@dataclass
class MaterialiseReport:
    bundle_id: str
    materialised: dict[str, list[DaySymbol]] = field(default_factory=dict)
    skipped: dict[str, list[DaySymbol]] = field(default_factory=dict)
    runs: list[RunOutcome] = field(default_factory=list)

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


def materialise(
    landing: Landing,
    defs: Definitions,
    instance: DagsterInstance,
    universe: list[str],
    lake: ParquetLake,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> MaterialiseReport:
    """Run the bundle's assets for its partitions, tagged with the bundle id.

    Partitions whose lake file already has the bundle file's SHA-256 are skipped, so
    importing a bundle twice runs nothing the second time.
    """
    manifest, bundle = landing.manifest, landing.bundle
    known = set(defs.resolve_all_asset_keys())
    undefined = [a for a in manifest.assets if AssetKey(a) not in known]
    if undefined:
        raise BundleError(f"bundle {bundle.bundle_id} holds {', '.join(undefined)}, which no Dagster asset here defines")
    report = MaterialiseReport(bundle.bundle_id)
    for asset in manifest.assets:
        for part in manifest.partitions(asset):
            same = lake.exists(asset, part) and lake.file_sha256(asset, part) == bundle.files[(asset, part)]
            (report.skipped if same else report.materialised).setdefault(asset, []).append(part)
    # One run per partition rectangle for all of the bundle's assets together, so Dagster
    # orders them (derivatives read the bars of the same partition) and a partition is
    # redone whole when any of its assets differs from the bundle; partitions that hold
    # fewer assets (text collected later than bars) run apart, only what they hold.
    todo = {part for parts in report.materialised.values() for part in parts}
    for assets, parts in import_steps(held_partitions(manifest), todo):
        tags = {BUNDLE_ID_TAG: bundle.bundle_id}
        for result in runs.materialize(defs, assets, parts, universe, instance, tags=tags):
            outcome = _outcome(",".join(assets), result)
            report.runs.append(outcome)
            if on_run:
                on_run(outcome)
    return report


def _outcome(asset: str, result: ExecuteInProcessResult) -> RunOutcome:
    tags = result.dagster_run.tags
    evaluations = result.get_asset_check_evaluations()
    failures = result.get_step_failure_events()
    error = None
    if failures:
        data = failures[0].step_failure_data
        message = data.error.message if data.error else "failed"
        error = f"{failures[0].step_key}: {' '.join(message.split())}"
    return RunOutcome(
        asset=asset,
        run_id=result.run_id,
        partitions=f"{tags.get(ASSET_PARTITION_RANGE_START_TAG)}...{tags.get(ASSET_PARTITION_RANGE_END_TAG)}",
        success=result.success,
        error=error,
        checks_passed=[e.check_name for e in evaluations if e.passed],
        checks_failed=[
            f"{e.check_name}: {e.description}"
            for e in evaluations
            if not e.passed and e.severity == AssetCheckSeverity.ERROR
        ],
        checks_warned=[
            f"{e.check_name}: {e.description}"
            for e in evaluations
            if not e.passed and e.severity != AssetCheckSeverity.ERROR
        ],
    )
