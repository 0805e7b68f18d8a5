"""A small parquet lake of our own (polars + fsspec/UPath).

Layout: ``<root>/<asset>/date=YYYY-MM-DD/symbol=<KEY>/part-0.parquet``. Partition columns
live in the path, not in the file, so DuckDB's hive partitioning and polars agree on them.

Writes are atomic: a killed run leaves either the old or the new partition, never half of
one. On a local disk the file is written next to its final name under a temporary name,
synced and renamed over the old one. An object store (``s3://bucket/prefix``, see
:mod:`quant_assets.lake.location`) has no rename, and needs none: a partition is one object
written by one PUT (a multipart upload above 100 MB), and S3 makes an object visible only
once its upload completes, whole, replacing the previous version in one step; an upload cut
short leaves the previous object as it was. Files are written with fixed settings, so the
same frame gives the same bytes, and the SHA-256 of those bytes is the partition's content
hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import polars as pl
from upath import UPath

from quant_assets.lake.location import ensure_folder, is_local, lake_path, read_object
from quant_assets.partitions import DaySymbol

PART_FILE = "part-0.parquet"
QUARANTINE_REPORT = "report.json"
# Reads from an object store wait on the network, not the CPU: a few at once hide the latency.
REMOTE_READ_THREADS = 8


@dataclass(frozen=True)
class PartitionWrite:
    asset: str
    partition: DaySymbol
    path: str
    rows: int
    sha256: str


def parquet_bytes(frame: pl.DataFrame, metadata: dict[str, str] | None = None) -> bytes:
    """Serialise deterministically: same frame (and key-value metadata), same bytes."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True, metadata=metadata)
    return buffer.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ParquetLake:
    """Published partitions under ``root``; readers see nothing else.

    Writers that must pass checks first stage under ``staging_root`` and publish through
    :mod:`quant_assets.lake.publish`; partitions that fail land under ``quarantine_root``.
    Both default to siblings of the lake (``<home>/staging``, ``<home>/quarantine`` for the
    standard ``<home>/lake``), so they share its filesystem (or bucket) and a publish is one
    rename (or one server-side copy).
    """

    def __init__(self, root: str | UPath, staging_root: str | UPath | None = None, quarantine_root: str | UPath | None = None):
        self.root = lake_path(root)
        if not is_local(self.root) and "/" not in self.root.path.strip("/"):
            # s3://bucket: its "parent" is itself, so staging would land inside the lake.
            raise ValueError(f"the lake root {root} needs a prefix below the bucket (staging and quarantine live beside it)")
        self.staging_root = lake_path(staging_root) if staging_root else self.root.parent / "staging"
        self.quarantine_root = lake_path(quarantine_root) if quarantine_root else self.root.parent / "quarantine"

    # ---- paths -------------------------------------------------------------------------
    def partition_dir(self, asset: str, part: DaySymbol) -> UPath:
        return self.root / asset / f"date={part.day.isoformat()}" / f"symbol={part.symbol}"

    def partition_path(self, asset: str, part: DaySymbol) -> UPath:
        return self.partition_dir(asset, part) / PART_FILE

    def relative_path(self, asset: str, part: DaySymbol) -> str:
        """Path inside the lake, as stored in bundle manifests."""
        return f"{asset}/date={part.day.isoformat()}/symbol={part.symbol}/{PART_FILE}"

    def exists(self, asset: str, part: DaySymbol) -> bool:
        return self.partition_path(asset, part).exists()

    def partitions(self, asset: str) -> list[DaySymbol]:
        """Every stored partition of an asset, sorted."""
        return hive_partitions(self.root / asset, PART_FILE)

    # ---- writes ------------------------------------------------------------------------
    def write_bytes(self, asset: str, part: DaySymbol, data: bytes) -> str:
        """Put already-serialised parquet bytes in place atomically; returns the path."""
        target = self.partition_path(asset, part)
        ensure_folder(target.parent)
        atomic_write_bytes(target, data)
        return str(target)

    def write(self, asset: str, part: DaySymbol, frame: pl.DataFrame, metadata: dict[str, str] | None = None) -> PartitionWrite:
        """``metadata``: key-value pairs kept in the file's footer, written in the same atomic
        step as the rows (e.g. a summary that must always describe exactly these rows)."""
        data = parquet_bytes(frame, metadata)
        path = self.write_bytes(asset, part, data)
        return PartitionWrite(asset, part, path, frame.height, sha256_bytes(data))

    def write_many(self, asset: str, frames: Iterable[tuple[DaySymbol, pl.DataFrame]]) -> list[PartitionWrite]:
        return [self.write(asset, part, frame) for part, frame in frames]

    # ---- reads -------------------------------------------------------------------------
    def read(self, asset: str, part: DaySymbol) -> pl.DataFrame:
        return pl.read_parquet(self.read_bytes(asset, part))

    def read_hashed(self, asset: str, part: DaySymbol) -> tuple[pl.DataFrame, str]:
        """The partition's frame and the SHA-256 of its file, from one read (a fit's inputs are
        keyed by their files' hashes, and reading the file twice was twice the I/O)."""
        raw = self.read_bytes(asset, part)
        return pl.read_parquet(raw), sha256_bytes(raw)

    def read_bytes(self, asset: str, part: DaySymbol) -> bytes:
        """The partition file's bytes; ``FileNotFoundError`` (one line) when it is not stored.
        On an object store this is one GET (no existence check first)."""
        path = self.partition_path(asset, part)
        try:
            return read_object(path)
        except FileNotFoundError:
            raise FileNotFoundError(f"lake partition {asset} {part} is not materialized ({path})") from None

    def read_schema(self, asset: str, part: DaySymbol) -> pl.Schema:
        """The partition's columns and dtypes, from the parquet footer only."""
        path = self.partition_path(asset, part)
        if self._is_local():  # by path: half the cost of a file object, over thousands of files
            return pl.Schema(pl.read_parquet_schema(path.path))
        with path.open("rb") as handle:
            return pl.Schema(pl.read_parquet_schema(handle))

    def read_file_metadata(self, asset: str, part: DaySymbol) -> dict[str, str]:
        """The partition file's key-value footer metadata (see ``write``)."""
        return pl.read_parquet_metadata(io.BytesIO(self.read_bytes(asset, part)))

    def read_many(
        self,
        asset: str,
        parts: Iterable[DaySymbol],
        missing_ok: bool = False,
        with_partition_day: bool = False,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Concatenate partitions, adding the ``symbol`` column from the path (and the
        partition's day as ``partition_day`` when asked, for checks on day boundaries);
        only ``columns`` of the files when given (a long read of a wide asset stays small).

        Local lakes are read in one multi-file scan (polars reads the files in parallel,
        several times faster than one read per partition over a long backfill); an object
        store's files are fetched a few at a time.
        """
        wanted = sorted(parts)
        present = [p for p in wanted if not missing_ok or self.exists(asset, p)]
        if not present:
            return pl.DataFrame()
        if not self._is_local():
            with ThreadPoolExecutor(REMOTE_READ_THREADS) as pool:
                read = list(pool.map(lambda p: self.read(asset, p), present))
            frames = [
                (f.select(columns) if columns else f).with_columns(symbol=pl.lit(p.symbol), partition_day=pl.lit(p.day))
                for p, f in zip(present, read)
            ]
            frame = pl.concat(frames, how="vertical")
            return frame if with_partition_day else frame.drop("partition_day")
        paths = [self.partition_path(asset, p).path for p in present]
        missing = [str(p) for p, path in zip(present, paths) if not os.path.exists(path)]
        if missing:
            raise FileNotFoundError(f"lake partitions of {asset} not materialized: {', '.join(missing[:5])}")
        scan = pl.scan_parquet(paths, hive_partitioning=True, hive_schema={"date": pl.String(), "symbol": pl.String()})
        frame = (scan.select(*columns, "date", "symbol") if columns else scan).collect()
        if with_partition_day:
            return frame.with_columns(pl.col("date").str.to_date()).rename({"date": "partition_day"})
        return frame.drop("date")

    def _is_local(self) -> bool:
        return is_local(self.root)

    def file_sha256(self, asset: str, part: DaySymbol) -> str:
        return sha256_bytes(self.read_bytes(asset, part))

    def iter_files(self, asset: str) -> Iterator[tuple[DaySymbol, UPath]]:
        for part in self.partitions(asset):
            yield part, self.partition_path(asset, part)

    # ---- quarantine (partitions whose blocking checks failed; never read as data) ------
    def quarantine_dir(self, asset: str, part: DaySymbol) -> UPath:
        return self.quarantine_root / asset / f"date={part.day.isoformat()}" / f"symbol={part.symbol}"

    def quarantine_report(self, asset: str, part: DaySymbol) -> dict | None:
        """The JSON report beside a quarantined partition, or None when it is not quarantined."""
        path = self.quarantine_dir(asset, part) / QUARANTINE_REPORT
        return json.loads(path.read_text()) if path.exists() else None

    def quarantine_note(self, asset: str, part: DaySymbol) -> str:
        """Why a partition reads as absent: '' when not quarantined, else the failed checks."""
        report = self.quarantine_report(asset, part)
        if report is None:
            return ""
        checks = ", ".join(sorted({f["check"] for f in report["failed_checks"]}))
        return f"quarantined: {checks} failed, see {self.quarantine_dir(asset, part) / QUARANTINE_REPORT}"

    def quarantined(self, asset: str) -> list[DaySymbol]:
        """Partitions of ``asset`` whose latest materialization failed a blocking check."""
        return hive_partitions(self.quarantine_root / asset, QUARANTINE_REPORT)


def hive_partitions(base: UPath, marker: str) -> list[DaySymbol]:
    """The ``date=.../symbol=...`` folders under ``base`` that hold ``marker``, sorted."""
    if not is_local(base):
        # One recursive prefix listing (a request per 1,000 keys), not a request per folder
        # and marker (s3fs's glob walks folder by folder).
        keys = (key.rsplit("/", 3)[-3:] for key in base.fs.find(base.path))
        return sorted(
            DaySymbol.parse(f"{day[5:]}|{sym[7:]}")
            for day, sym, name in keys
            if name == marker and day.startswith("date=") and sym.startswith("symbol=")
        )
    if not base.exists():
        return []
    return sorted(
        DaySymbol.parse(f"{day_dir.name[5:]}|{sym_dir.name[7:]}")
        for day_dir in base.iterdir()
        if day_dir.name.startswith("date=")
        for sym_dir in day_dir.iterdir()
        if sym_dir.name.startswith("symbol=") and (sym_dir / marker).exists()
    )


def atomic_write_bytes(target: UPath, data: bytes) -> None:
    """Put ``data`` at ``target`` whole or not at all (the parent folder must exist).

    Locally: written under a temporary name next to the target, synced, renamed over it, and
    the rename synced; a killed writer leaves only a ``.tmp`` file nobody reads. On an object
    store: one ``pipe_file``, a single PUT (a multipart upload above 100 MB, aborted on error),
    which the store makes visible only once complete (see the module docstring).
    """
    if is_local(target):
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
        with open(tmp.path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp.path, target.path)
        fsync_dir(target.parent.path)
    else:
        # Not ``open("wb")``: fsspec's file commits its upload on leaving the ``with`` even
        # when the block raised. ``pipe_file`` stores exactly ``data`` or raises.
        target.fs.pipe_file(target.path, data)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in ``path`` durable; not every filesystem allows opening a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
