"""``bundle_manifest.json``: what a bundle claims to hold, and the checks that hold it to that.

The manifest lists every file of the bundle with its asset, partition, row count, schema,
size and SHA-256. Import trusts nothing in the archive that the manifest does not vouch for,
and nothing in the manifest that the files do not bear out. Every refusal is a
``BundleError`` whose message is one line naming the file or field at fault.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cached_property
from typing import IO, Callable

import polars as pl
import pyarrow.parquet as pq

from quant_assets.bundles.unpacked import MANIFEST_NAME
from quant_assets.catalog import schema_for
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.symbols import Symbol

FORMAT_VERSION = 1
LAKE_PREFIX = "lake/"

# Called as progress(done, total, what); total is None while it is not known yet.
Progress = Callable[[int, "int | None", str], None]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Only used for its path layout, so bundle paths and lake paths cannot drift apart.
_LAYOUT = ParquetLake(".")


class BundleError(Exception):
    """A bundle was refused; the message is one line naming the problem."""


def member_path(asset: str, part: DaySymbol) -> str:
    """Where a partition's file sits inside the archive (and under an unpacked bundle)."""
    return LAKE_PREFIX + _LAYOUT.relative_path(asset, part)


def normalised_path(name: str, what: str = "member") -> str:
    """A relative path inside a bundle with empty and ``.`` parts dropped; absolute paths and
    ``..`` are refused. Archive member names and manifest paths are both compared in this form,
    so ``lake//x`` and ``lake/./x`` cannot pose as two files."""
    if name.startswith("/") or "\\" in name or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"{what} {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BundleError(f"{what} {name!r} has '..' in its path")
    return "/".join(parts)


@dataclass(frozen=True)
class FileEntry:
    path: str
    asset: str
    date: str
    symbol: str
    rows: int
    schema: dict[str, str]
    sha256: str
    bytes: int

    @property
    def partition(self) -> DaySymbol:
        return DaySymbol(date.fromisoformat(self.date), self.symbol)

    @property
    def label(self) -> str:
        return f"{self.asset} {self.partition}"


@dataclass(frozen=True)
class Manifest:
    format_version: int
    bundle_id: str
    created_at: str
    files: list[FileEntry]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def entry(self, path: str) -> FileEntry | None:
        return self._by_path.get(path)

    @cached_property
    def _by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def partitions(self, asset: str) -> list[DaySymbol]:
        return sorted(f.partition for f in self.files if f.asset == asset)

    @property
    def assets(self) -> list[str]:
        return sorted({f.asset for f in self.files})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        """Parse and validate; anything unexpected is a ``BundleError`` naming the field."""
        try:
            raw = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise BundleError(f"{MANIFEST_NAME} is not valid JSON ({one_line(err)})") from None
        if not isinstance(raw, dict):
            raise BundleError(f"{MANIFEST_NAME} must be a JSON object, found {type(raw).__name__}")
        # The version decides what the other fields mean, so it is checked first.
        version = _field(raw, "format_version", int, MANIFEST_NAME)
        if version != FORMAT_VERSION:
            raise BundleError(f"{MANIFEST_NAME} has unknown format_version {version!r}; this quant_assets reads {FORMAT_VERSION}")
        bundle_id = _field(raw, "bundle_id", str, MANIFEST_NAME)
        created_at = _field(raw, "created_at", str, MANIFEST_NAME)
        try:
            datetime.fromisoformat(created_at)
        except ValueError:
            raise BundleError(f"{MANIFEST_NAME}: created_at {created_at!r} is not an ISO timestamp") from None
        files_raw = _field(raw, "files", list, MANIFEST_NAME)
        if not files_raw:
            raise BundleError(f"{MANIFEST_NAME} lists no files")
        files = [_entry_from_raw(i, item) for i, item in enumerate(files_raw)]
        _refuse_duplicates(files)
        expected = bundle_id_for(files)
        if bundle_id != expected:
            raise BundleError(f"{MANIFEST_NAME}: bundle_id {bundle_id!r} does not match its files (expected {expected})")
        return cls(version, bundle_id, created_at, files)


def bundle_id_for(files: list[FileEntry]) -> str:
    """Derived from content: the same files give the same id, whenever they were exported."""
    digest = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f.path):
        digest.update(f"{entry.path}\t{entry.sha256}\n".encode())
    return digest.hexdigest()[:16]


def schema_strings(schema: pl.Schema | dict) -> dict[str, str]:
    """A parquet schema as the manifest writes it: column -> polars dtype name."""
    return {name: str(dtype) for name, dtype in dict(schema).items()}


def describe_parquet(asset: str, source: str | IO[bytes], where: str) -> tuple[int, dict[str, str]]:
    """Row count and schema of one partition file, refusing what the lake would not accept.

    The file must be readable parquet, have exactly the asset's registered schema and no two
    rows sharing the asset's key. Export and import both call this (import in two steps, so it
    can compare the footer with the manifest before reading any column), so a bundle that
    exports is a bundle that imports.
    """
    rows, schema = read_footer(source, where)
    check_lake_file(asset, source, schema, where)
    return rows, schema_strings(schema)


def read_footer(source: str | IO[bytes], where: str) -> tuple[int, pl.Schema]:
    """Row count and schema from the parquet footer alone: no data page is read."""
    try:
        rows = pq.read_metadata(_rewound(source)).num_rows
        schema = pl.read_parquet_schema(_rewound(source))
    except Exception as err:  # pyarrow and polars raise several kinds for a bad file
        raise BundleError(f"{where}: not a readable parquet file ({one_line(err)})") from None
    return rows, schema


def check_lake_file(asset: str, source: str | IO[bytes], schema: pl.Schema, where: str) -> None:
    """Refuse a file whose footer ``schema`` is not the asset's, or whose rows repeat a key
    (the one check that must read data: the key columns)."""
    expected = schema_for(asset)
    problems = expected.problems(schema)
    if problems:
        raise BundleError(f"{where}: schema mismatch with {asset}: {'; '.join(problems)}")
    try:
        keys = pl.read_parquet(_rewound(source), columns=[c for c in expected.key if c in schema])
    except Exception as err:
        raise BundleError(f"{where}: not a readable parquet file ({one_line(err)})") from None
    duplicated = keys.filter(pl.struct(list(expected.key)).is_duplicated())
    if duplicated.height:
        first = ", ".join(f"{k}={v}" for k, v in duplicated.row(0, named=True).items())
        raise BundleError(f"{where}: duplicate keys ({', '.join(expected.key)}): {duplicated.height} rows, first {first}")


def _rewound(source):
    # A file object is read twice (schema, then keys).
    if hasattr(source, "seek"):
        source.seek(0)
    return source


def _entry_from_raw(index: int, item) -> FileEntry:
    where = f"{MANIFEST_NAME} files[{index}]"
    if not isinstance(item, dict):
        raise BundleError(f"{where} must be an object, found {type(item).__name__}")
    path = _field(item, "path", str, where)
    where = f"{MANIFEST_NAME} entry {path}"
    asset = _field(item, "asset", str, where)
    day = _field(item, "date", str, where)
    symbol = _field(item, "symbol", str, where)
    rows = _field(item, "rows", int, where)
    schema = _field(item, "schema", dict, where)
    sha256 = _field(item, "sha256", str, where)
    size = _field(item, "bytes", int, where)
    try:
        schema_for(asset)
    except KeyError as err:
        raise BundleError(f"{where}: {err.args[0]}") from None
    part = _partition(day, symbol, where)
    expected = member_path(asset, part)
    if normalised_path(path, f"{where}: path") != expected:
        raise BundleError(f"{where}: path does not match its asset and partition (expected {expected})")
    if rows < 0 or size < 0:
        raise BundleError(f"{where}: rows and bytes must not be negative")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in schema.items()):
        raise BundleError(f"{where}: schema must map column names to dtype names")
    if not _SHA256.match(sha256):
        raise BundleError(f"{where}: sha256 {sha256!r} is not 64 lowercase hex digits")
    return FileEntry(expected, asset, day, symbol, rows, schema, sha256, size)


def _partition(day: str, symbol: str, where: str) -> DaySymbol:
    """The partition an entry names, written exactly as its partition key: ``BTC-USDT\\n`` or
    ``20251006`` parse to a valid key but are not one, and would let two entries share a file."""
    try:
        part = DaySymbol(date.fromisoformat(day), Symbol.from_key(symbol).key)
    except ValueError as err:
        raise BundleError(f"{where}: bad partition ({one_line(err)})") from None
    if (part.day.isoformat(), part.symbol) != (day, symbol):
        raise BundleError(
            f"{where}: bad partition: date {day!r} and symbol {symbol!r} must be written exactly as {part.day.isoformat()!r} and {part.symbol!r}"
        )
    return part


def _refuse_duplicates(files: list[FileEntry]) -> None:
    # Paths are normalised and each names exactly one (asset, partition), so one path per
    # entry means one entry per file: no file can be vouched for twice and checked once.
    seen: set[str] = set()
    for entry in files:
        if entry.path in seen:
            raise BundleError(f"{MANIFEST_NAME}: duplicate entry for {entry.label} ({entry.path})")
        seen.add(entry.path)


def _field(raw: dict, name: str, kind: type, where: str):
    if name not in raw:
        raise BundleError(f"{where}: missing field {name!r}")
    value = raw[name]
    # bool is an int to Python, never to a manifest.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BundleError(f"{where}: field {name!r} must be {kind.__name__}, found {type(value).__name__}")
    return value


def one_line(err: BaseException) -> str:
    """An exception's message on one line, for a refusal that must stay one line."""
    return " ".join(str(err).split()) or type(err).__name__
