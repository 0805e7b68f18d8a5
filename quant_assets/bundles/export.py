"""Write lake partitions into a bundle: a tar.gz with ``bundle_manifest.json`` first.

The archive is deterministic given its manifest (sorted members, fixed owners, modes and
times), and appears at its final name only once complete: it is written under a temporary
name next to it and renamed, so an interrupted export never leaves a bundle that looks whole.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import tempfile
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterable

from quant_assets.bundles.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    BundleError,
    FileEntry,
    Manifest,
    Progress,
    bundle_id_for,
    describe_parquet,
    member_path,
)
from quant_assets.catalog import asset_schemas, schema_for
from quant_assets.lake.store import ParquetLake, sha256_bytes
from quant_assets.partitions import DaySymbol


def write_bundle(
    out_path: str | os.PathLike,
    entries: Iterable[tuple[str, DaySymbol, bytes]],
    progress: Progress | None = None,
) -> Manifest:
    """Bundle ``(asset, partition, parquet bytes)`` entries into ``out_path``.

    Each file is checked exactly as import will check it (schema, unique keys) so a bundle
    that exports is one that imports. Entries are spooled to disk first: the manifest, which
    needs every hash, goes at the top of the archive, and a long export need not fit in memory.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bundle-spool-", dir=out.parent) as spool_dir:
        files, spooled = _spool(entries, Path(spool_dir), progress)
        if not files:
            raise BundleError("nothing to export: no partitions were given")
        created = datetime.now(timezone.utc).replace(microsecond=0)
        manifest = Manifest(FORMAT_VERSION, bundle_id_for(files), created.isoformat(), files)
        _write_archive(out, manifest, spooled, int(created.timestamp()), progress)
    return manifest


def export_lake(
    lake: ParquetLake,
    out_path: str | os.PathLike,
    start: date,
    end: date,
    symbols: Iterable[str] | None = None,
    assets: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Bundle the stored partitions of ``assets`` (default: every lake asset) for days
    ``start..end`` (inclusive) and ``symbols`` (default: all); refuse if nothing matches or a
    selected partition is quarantined (its latest materialization failed a blocking check)."""
    if end < start:
        raise BundleError(f"--end {end} is before --start {start}")
    asset_names = sorted(assets) if assets else sorted(asset_schemas())  # every catalogued asset, registered ones too
    for asset in asset_names:
        try:
            schema_for(asset)
        except KeyError as err:
            raise BundleError(err.args[0]) from None
    wanted = set(symbols) if symbols else None

    def chosen(part: DaySymbol) -> bool:
        return start <= part.day <= end and (wanted is None or part.symbol in wanted)

    # A partition whose latest materialization failed its checks is in dispute: not exported.
    quarantined = [(asset, part) for asset in asset_names for part in lake.quarantined(asset) if chosen(part)]
    if quarantined:
        asset, part = quarantined[0]
        raise BundleError(
            f"{len(quarantined)} selected partitions are quarantined (their blocking checks failed), first "
            f"{asset} {part}: {lake.quarantine_note(asset, part)}; re-materialize them or leave them out"
        )
    selected = [(asset, part) for asset in asset_names for part in lake.partitions(asset) if chosen(part)]
    if not selected:
        which = f" for symbols {', '.join(sorted(wanted))}" if wanted else ""
        raise BundleError(
            f"nothing to export: no stored partitions of {', '.join(asset_names)} between {start} and {end}{which} in the lake at {lake.root}"
        )
    entries = ((asset, part, lake.partition_path(asset, part).read_bytes()) for asset, part in selected)
    return write_bundle(out_path, entries, progress)


def _spool(entries: Iterable[tuple[str, DaySymbol, bytes]], spool: Path, progress: Progress | None) -> tuple[list[FileEntry], dict[str, Path]]:
    files: list[FileEntry] = []
    spooled: dict[str, Path] = {}
    for asset, part, data in entries:
        try:
            schema_for(asset)
        except KeyError as err:
            raise BundleError(err.args[0]) from None
        path = member_path(asset, part)
        if path in spooled:
            raise BundleError(f"{asset} {part} was given twice")
        rows, schema = describe_parquet(asset, io.BytesIO(data), where=path)
        files.append(FileEntry(path, asset, part.day.isoformat(), part.symbol, rows, schema, sha256_bytes(data), len(data)))
        spooled[path] = spool / f"{len(spooled)}.parquet"
        spooled[path].write_bytes(data)
        if progress:
            progress(len(files), None, f"read {asset} {part}")
    return sorted(files, key=lambda f: f.path), spooled


def _write_archive(out: Path, manifest: Manifest, spooled: dict[str, Path], mtime: int, progress: Progress | None) -> None:
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as raw:
            # filename="" and a fixed mtime keep the gzip header free of local accidents.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=6) as gz:
                with tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    manifest_bytes = manifest.to_json().encode()
                    tar.addfile(_member(MANIFEST_NAME, len(manifest_bytes), mtime), io.BytesIO(manifest_bytes))
                    for done, entry in enumerate(manifest.files, start=1):
                        with open(spooled[entry.path], "rb") as handle:
                            tar.addfile(_member(entry.path, entry.bytes, mtime), handle)
                        if progress:
                            progress(done, len(manifest.files), f"wrote {entry.path}")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _member(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
