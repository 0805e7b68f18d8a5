"""Verify a bundle and unpack it, all or nothing, under the home's bundle lock.

Unpacking streams the archive once (it is never held in memory, and ``extractall`` is never
used) into a staging folder beside the unpacked bundles, never into the lake. What may be
inflated is bounded before it is inflated (the configured caps, then what the manifest,
which must come first, declares). Each member is checked as it arrives: a safe relative
name, a plain file, listed in the manifest, with the manifest's size in its tar header and
the manifest's SHA-256, and a parquet file whose footer has the manifest's row count and
schema, with the asset's registered schema and unique keys. Only when all of it holds is the
staging folder synced and renamed to ``<bundles_root>/<bundle_id>/`` and its unpacked marker
written: that marker is the commit. Any refusal removes the staging folder, so the lake and
the unpacked bundles are left as they were. Nothing here needs Dagster.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import uuid
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Callable

from upath import UPath

from quant_assets.bundles.limits import BundleLimits
from quant_assets.bundles.lock import bundle_lock
from quant_assets.bundles.manifest import (
    MANIFEST_NAME,
    BundleError,
    FileEntry,
    Manifest,
    Progress,
    check_lake_file,
    normalised_path,
    one_line,
    read_footer,
    schema_strings,
)
from quant_assets.bundles.stream import CHUNK, BoundedGunzip, HashingReader
from quant_assets.bundles.unpacked import STAGING_PREFIX, UNPACKED_MARKER, UnpackedBundle, is_bundle_id, load_unpacked
from quant_assets.lake.store import atomic_write_bytes, fsync_dir

MAX_MANIFEST_BYTES = 64 << 20
# What tar may add around a file beyond its bytes: its header (with a pax header or a long
# name), a folder header or two, and padding to the next 512-byte block.
HEADER_ALLOWANCE = 8 << 10
# The tar reader reads ahead in 10 KiB records; the end of an archive is two zero blocks and
# zero padding to the writer's record size (10 KiB for tar and Python, more for some).
READAHEAD = 2 * tarfile.RECORDSIZE
TAIL_ALLOWANCE = 64 << 10
_END_MARKER = 2 * tarfile.BLOCKSIZE


@dataclass(frozen=True)
class Unpacking:
    bundle: UnpackedBundle
    manifest: Manifest
    fresh: bool  # False when this very bundle had been unpacked before: nothing was written


def verify_and_unpack(
    archive_path: str | os.PathLike,
    bundles_root: str | os.PathLike,
    progress: Progress | None = None,
    admit: Callable[[Manifest], None] | None = None,
    limits: BundleLimits | None = None,
) -> UnpackedBundle:
    """Verify ``archive_path`` completely and unpack it under ``bundles_root``; see ``unpack``."""
    return unpack(archive_path, bundles_root, progress, admit, limits).bundle


def unpack(
    archive_path: str | os.PathLike,
    bundles_root: str | os.PathLike,
    progress: Progress | None = None,
    admit: Callable[[Manifest], None] | None = None,
    limits: BundleLimits | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Unpacking:
    """Verify and unpack a bundle, all or nothing; raise ``BundleError`` naming any problem.

    ``admit`` sees the verified manifest before the commit and may refuse it (the CLI checks
    the bundle fits the configured universe there). Unpacking a bundle that was already unpacked
    verifies it again and then changes nothing. It holds the home's bundle lock throughout
    (``on_wait`` hears if it has to wait), so what it finds half-done under ``bundles_root``
    was left by a killed import and is cleared first. ``limits`` default to the environment's.
    """
    archive = Path(archive_path)
    if not archive.is_file():
        raise BundleError(f"{archive}: no such bundle file")
    if "://" in str(bundles_root):
        raise BundleError(f"bundles are unpacked on a local disk; {bundles_root} is not a local path")
    limits = limits or BundleLimits.from_env()
    root = Path(bundles_root)
    staging = root / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    with bundle_lock(root, limits.lock_timeout_s, on_wait):
        try:
            _clear_leftovers(root)
            staging.mkdir()
            manifest, archive_sha256 = _verify_into(archive, staging, limits, progress)
            if admit:
                admit(manifest)
            return _commit(staging, root / manifest.bundle_id, manifest, archive_sha256)
        except OSError as err:
            raise BundleError(f"cannot unpack under {root}: {one_line(err)}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def check_fits_settings(manifest: Manifest, universe: list[str], start: date) -> None:
    """Refuse partitions Dagster could not materialize here: unknown symbols, days too early."""
    symbols = sorted({f.symbol for f in manifest.files} - set(universe))
    if symbols:
        raise BundleError(
            f"bundle {manifest.bundle_id} holds symbols {', '.join(symbols)} that are not in the universe "
            f"({', '.join(universe)}); add them to QUANT_ASSETS_SYMBOLS, or import with --unpack-only"
        )
    first = min(f.partition.day for f in manifest.files)
    if first < start:
        raise BundleError(
            f"bundle {manifest.bundle_id} starts on {first}, before the first partition day {start}; "
            f"set QUANT_ASSETS_START_DATE={first} or earlier, or import with --unpack-only"
        )


def _clear_leftovers(root: Path) -> None:
    """Remove what a killed import left: staging folders, and bundle folders renamed into
    place whose unpacked marker was never written. Readers ignore both; under the lock no
    live import owns them."""
    for folder in root.iterdir():
        unfinished = folder.name.startswith(STAGING_PREFIX) or (is_bundle_id(folder.name) and not (folder / UNPACKED_MARKER).exists())
        if unfinished and folder.is_dir():
            shutil.rmtree(folder)


# ---- verification ----------------------------------------------------------------------


def _verify_into(archive: Path, staging: Path, limits: BundleLimits, progress: Progress | None) -> tuple[Manifest, str]:
    """Stream the archive into ``staging``, checking everything; returns (manifest, archive sha).

    What the archive may inflate to is bounded at every step, before the bytes are inflated:
    the configured caps, then the manifest (at most ``MAX_MANIFEST_BYTES``), then exactly the
    files it declares (each tar header must agree with it), then the end-of-archive padding.
    """
    cap, cap_why = limits.unpack_ceiling(archive.stat().st_size)
    manifest: Manifest | None = None
    seen: set[str] = set()
    with open(archive, "rb") as handle:
        raw = HashingReader(handle)
        gz = BoundedGunzip(raw, cap, f"{archive.name} unpacks to more than {cap_why}", TAIL_ALLOWANCE + READAHEAD)
        # Until the manifest is read, nothing may inflate much past it.
        first = MAX_MANIFEST_BYTES + HEADER_ALLOWANCE + READAHEAD
        _bound(gz, first, cap, f"{archive.name} does not start with a manifest of at most {MAX_MANIFEST_BYTES} bytes")
        try:
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
                        _bound_to_manifest(gz, tar.offset, manifest, cap, cap_why, archive.name)
                        continue
                    entry = manifest.entry(name)
                    if entry is None:
                        raise BundleError(f"member {name} is not listed in {MANIFEST_NAME}")
                    if member.size != entry.bytes:
                        raise BundleError(
                            f"{name}: its tar header declares {member.size} bytes, the manifest says {entry.bytes}; refused before extracting it"
                        )
                    _check_file(entry, *_stage(tar.extractfile(member), staging / name), staging / name)
                    if progress:
                        progress(len(seen) - 1, len(manifest.files), f"verified {name}")
                _check_tail(gz, tar.offset, cap, archive.name)
        except (tarfile.TarError, EOFError, zlib.error) as err:
            raise BundleError(f"{archive.name} is truncated or corrupt ({one_line(err)})") from None
        if gz.has_trailing_bytes():
            raise BundleError(f"{archive.name} has data after the end of its gzip stream; refused without reading it")
    if manifest is None:
        raise BundleError(f"{MANIFEST_NAME} is missing: {archive.name} holds no files")
    missing = [f.path for f in manifest.files if f.path not in seen]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BundleError(f"{MANIFEST_NAME} lists {missing[0]}{more}, which the archive does not hold")
    return manifest, raw.sha256.hexdigest()


def _bound(gz: BoundedGunzip, ceiling: int, cap: int, why: str) -> None:
    """Tighten the inflate ceiling to ``ceiling``, unless the configured cap is tighter still."""
    if ceiling < cap:
        gz.bound(ceiling, why)


def _bound_to_manifest(gz: BoundedGunzip, manifest_end: int, manifest: Manifest, cap: int, cap_why: str, name: str) -> None:
    """Refuse a manifest that declares more than the caps allow, before any file is inflated;
    then allow the stream exactly what it declares, plus tar's own headers and padding."""
    declared = manifest_end + sum(f.bytes for f in manifest.files)
    if declared > cap:
        raise BundleError(f"{MANIFEST_NAME} declares {declared} bytes, over the limit for {name} of {cap_why}")
    layout = manifest_end + sum(f.bytes + HEADER_ALLOWANCE for f in manifest.files) + TAIL_ALLOWANCE
    _bound(gz, layout, cap, f"{name} holds more than its manifest declares ({declared} bytes)")


def _check_tail(gz: BoundedGunzip, tar_end: int, cap: int, name: str) -> None:
    """After the last member: only the end-of-archive marker and zero padding may follow, and
    at most ``TAIL_ALLOWANCE`` of it is inflated to find out."""
    why = f"{name} has data after the end of its tar archive (only zero padding may follow it)"
    _bound(gz, max(gz.position, tar_end + TAIL_ALLOWANCE), cap, why)
    while gz.read(CHUNK):
        pass
    tail = gz.recent(gz.position - tar_end)
    if tail is None or tail.count(0) != len(tail):
        raise BundleError(why)
    if len(tail) < _END_MARKER:
        raise BundleError(f"{name} is truncated or corrupt (its tar archive has no end-of-archive marker)")


def _safe_name(member: tarfile.TarInfo) -> str:
    """The member's normalised relative name, or a refusal: absolute, ``..``, links, devices, fifos."""
    name = normalised_path(member.name)
    if member.issym():
        raise BundleError(f"member {member.name!r} is a symbolic link (to {member.linkname!r}); bundles hold plain files")
    if member.islnk():
        raise BundleError(f"member {member.name!r} is a hard link (to {member.linkname!r}); bundles hold plain files")
    if member.ischr() or member.isblk():
        raise BundleError(f"member {member.name!r} is a device file; bundles hold plain files")
    if member.isfifo():
        raise BundleError(f"member {member.name!r} is a fifo; bundles hold plain files")
    if not (member.isdir() or (member.isreg() and not member.issparse())):
        raise BundleError(f"member {member.name!r} has tar type {member.type!r}; bundles hold plain files")
    return name


def _read_manifest(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, staging: Path) -> Manifest:
    if name != MANIFEST_NAME:
        raise BundleError(f"{MANIFEST_NAME} is missing or misplaced: the archive's first file is {name} (the manifest must come first)")
    if member.size > MAX_MANIFEST_BYTES:
        raise BundleError(f"{MANIFEST_NAME} is {member.size} bytes, over the {MAX_MANIFEST_BYTES} limit")
    text = tar.extractfile(member).read()
    manifest = Manifest.from_json(text)
    _stage(io.BytesIO(text), staging / MANIFEST_NAME)  # synced like every file it vouches for
    return manifest


def _stage(source, target: Path) -> tuple[str, int]:
    """Copy one member to ``target``, hashing as it goes; returns (sha256, bytes)."""
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _check_file(entry: FileEntry, sha256: str, size: int, staged: Path) -> None:
    """The staged file against its entry: hash and size, then row count and schema from the
    parquet footer alone, and only then the key columns (the one read of data)."""
    if sha256 != entry.sha256:
        raise BundleError(f"{entry.path}: sha256 mismatch: the file hashes to {sha256}, the manifest says {entry.sha256}")
    if size != entry.bytes:
        raise BundleError(f"{entry.path}: size mismatch: the file has {size} bytes, the manifest says {entry.bytes}")
    rows, footer_schema = read_footer(str(staged), where=entry.path)
    if rows != entry.rows:
        raise BundleError(f"{entry.path}: row count mismatch: the file has {rows} rows, the manifest says {entry.rows}")
    schema = schema_strings(footer_schema)
    if schema != entry.schema:
        diff = sorted(
            f"{c}: file {schema.get(c, 'absent')}, manifest {entry.schema.get(c, 'absent')}"
            for c in set(schema) | set(entry.schema)
            if schema.get(c) != entry.schema.get(c)
        )
        raise BundleError(f"{entry.path}: schema mismatch with the manifest: {'; '.join(diff)}")
    check_lake_file(entry.asset, str(staged), footer_schema, where=entry.path)


def _commit(staging: Path, final: Path, manifest: Manifest, archive_sha256: str) -> Unpacking:
    """Publish the staged bundle: sync it, rename it into place, then write its unpacked marker.

    The marker is the commit. A reader trusts only folders that carry it, and it is written
    (atomically) only once the rename is durable, so a crash at any point leaves either a
    unpacked bundle or a folder no reader looks at, which the next import clears.
    """
    if (final / UNPACKED_MARKER).exists():
        return Unpacking(load_unpacked(final), manifest, fresh=False)
    _fsync_tree(staging)
    os.rename(staging, final)
    fsync_dir(final.parent)
    unpacked = {
        "bundle_id": manifest.bundle_id,
        "bundle_sha256": archive_sha256,
        "landed_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_bytes(UPath(final / UNPACKED_MARKER), (json.dumps(unpacked, indent=1) + "\n").encode())
    return Unpacking(load_unpacked(final), manifest, fresh=True)


def _fsync_tree(root: Path) -> None:
    """Make every folder entry under ``root`` durable (the files were synced as they were
    written), deepest first, so the rename never publishes a folder whose entries are lost."""
    for folder, _, _ in sorted(os.walk(root), key=lambda walked: -walked[0].count(os.sep)):
        fsync_dir(folder)
