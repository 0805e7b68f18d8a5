"""Helpers for bundle tests: real partitions from the fixture, hand-made archives, tree hashes."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import tarfile
import zlib
from datetime import date
from pathlib import Path

import polars as pl

from quant_assets.bundles.manifest import FileEntry, bundle_id_for, member_path
from quant_assets.lake.store import ParquetLake, parquet_bytes
from quant_assets.market.bars import BARS_ASSET, split_partitions, with_availability
from quant_assets.partitions import DaySymbol

# Binance spot 5m bars of BTC/USDT and ETH/USDT, 2025-10-06 and 2025-10-07 (see fixtures/README.md).
FIXTURE = Path(__file__).parents[1] / "fixtures" / "bars_btc_eth_2025-10-06_07.parquet"
SYMBOLS = ["BTC-USDT", "ETH-USDT"]
DAYS = [date(2025, 10, 6), date(2025, 10, 7)]
PARTS = [DaySymbol(day, symbol) for day in DAYS for symbol in SYMBOLS]
# Where the first two partitions sit inside a bundle.
FIRST = member_path(BARS_ASSET, PARTS[0])
SECOND = member_path(BARS_ASSET, PARTS[1])


def fixture_partitions() -> list[tuple[DaySymbol, pl.DataFrame]]:
    """The fixture as lake partitions of market_bars, exactly as the asset would store them."""
    raw = pl.read_parquet(FIXTURE).with_columns(symbol=pl.col("symbol").str.replace("/", "-"))
    return split_partitions(with_availability(raw, source="binance-spot"), PARTS)


def bundle_entries(frames=None) -> list[tuple[str, DaySymbol, bytes]]:
    return [(BARS_ASSET, part, parquet_bytes(frame)) for part, frame in (frames or fixture_partitions())]


def fill_lake(lake_root: str | Path) -> ParquetLake:
    lake = ParquetLake(str(lake_root))
    lake.write_many(BARS_ASSET, fixture_partitions())
    return lake


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes: equal means untouched."""
    if not root.exists():
        return {}
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def lake_digest(root: str) -> dict[str, str]:
    """``tree_digest`` of a lake wherever it is: an object store has files (keys) only."""
    if "://" not in root:
        return tree_digest(Path(root))
    base = ParquetLake(root).root
    prefix = base.path.rstrip("/") + "/"
    return {key.removeprefix(prefix): hashlib.sha256(base.fs.cat_file(key)).hexdigest() for key in sorted(base.fs.find(base.path))}


# ---- hand-made archives -----------------------------------------------------------------


def read_archive(path: Path) -> tuple[dict, dict[str, bytes]]:
    """A well-formed bundle taken apart: (manifest as a dict, member name -> bytes)."""
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            files[member.name] = tar.extractfile(member).read()
    manifest = json.loads(files.pop("bundle_manifest.json"))
    return manifest, files


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def write_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """Write members as they are: tarfile's ``addfile`` keeps absolute and ``..`` names."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def bundle_members(manifest: dict, files: dict[str, bytes]) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """Manifest first, then the files: the layout of a good bundle."""
    return [member("bundle_manifest.json", manifest_bytes(manifest))] + [member(n, d) for n, d in files.items()]


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest).encode()


def refresh_id(manifest: dict) -> dict:
    """Recompute bundle_id after a test changed paths or hashes, so only the intended fault remains."""
    manifest["bundle_id"] = bundle_id_for([FileEntry(**entry) for entry in manifest["files"]])
    return manifest


def describe(data: bytes) -> dict:
    """The manifest fields of a file a test substitutes (rows and schema only for parquet)."""
    fields = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if data[:4] == b"PAR1":
        frame = pl.read_parquet(data)
        fields.update(rows=frame.height, schema={k: str(v) for k, v in frame.schema.items()})
    return fields


# ---- bombs ------------------------------------------------------------------------------

ZERO_BLOCK = 1 << 20


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], close: bool = True) -> bytes:
    """Members as an uncompressed tar; ``close=False`` leaves off the end-of-archive marker."""
    buffer = io.BytesIO()
    tar = tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT)
    for info, data in members:
        tar.addfile(info, io.BytesIO(data) if data is not None else None)
    if close:
        tar.close()
    return buffer.getvalue()


def header_only(name: str, size: int) -> bytes:
    """A tar header that declares ``size`` bytes, with none of them behind it."""
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def gzip_with_zeros(head: bytes, zero_bytes: int, tail: bytes = b"", true_trailer: bool = True) -> bytes:
    """One gzip member inflating to ``head``, ``zero_bytes`` zeros, then ``tail``, built in
    milliseconds however many zeros: after a full flush deflate restarts, so the compressed
    block of 1 MiB of zeros is the same every time and is simply repeated. Computing the
    CRC of the zeros is the one slow part, so ``true_trailer=False`` writes a wrong one for
    bombs the importer must refuse long before their end."""
    assert zero_bytes % ZERO_BLOCK == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = [deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH)]
    block = deflate.compress(bytes(ZERO_BLOCK)) + deflate.flush(zlib.Z_FULL_FLUSH)
    body += [block] * (zero_bytes // ZERO_BLOCK)
    body.append(deflate.compress(tail) + deflate.flush(zlib.Z_FINISH))
    crc = 0
    if true_trailer:
        crc = zlib.crc32(head)
        zeros = bytes(ZERO_BLOCK)
        for _ in range(zero_bytes // ZERO_BLOCK):
            crc = zlib.crc32(zeros, crc)
        crc = zlib.crc32(tail, crc)
    size = (len(head) + zero_bytes + len(tail)) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff"
    return header + b"".join(body) + struct.pack("<II", crc, size)
