"""Feature partitions in the lake: written with the contract and their inputs in the file.

Each ``feature_matrix`` parquet file carries three key-value entries: the contract it was
written under (version and hash), the upstream day partitions it read, per asset, and their
content hashes (:mod:`provenance`). The checks and the audit recompute from exactly those
partitions and know when one has changed since, so "the same inputs" is a fact recorded at
write time, not a guess made at audit time.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import polars as pl

from quant_assets.features import contract
from quant_assets.features.inputs import UPSTREAM, Inputs, conform
from quant_assets.lake.store import ParquetLake, PartitionWrite, sha256_bytes
from quant_assets.partitions import DaySymbol

CONTRACT_KEY = "quant_assets.feature_contract"
INPUTS_KEY = "quant_assets.feature_inputs"
INPUT_HASHES_KEY = "quant_assets.feature_input_hashes"


def serialise(frame: pl.DataFrame, upstream_days: dict[str, list[date]], input_hashes: dict[str, dict[str, str]] | None = None) -> bytes:
    """Same fixed settings as the rest of the lake (same frame, same bytes), plus metadata."""
    meta = {
        CONTRACT_KEY: json.dumps({"version": contract.SCHEMA_VERSION, "hash": contract.CONTRACT_HASH}),
        INPUTS_KEY: json.dumps({a: [d.isoformat() for d in upstream_days.get(a, [])] for a in UPSTREAM}),
    }
    if input_hashes is not None:
        meta[INPUT_HASHES_KEY] = json.dumps(input_hashes, sort_keys=True)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True, metadata=meta)
    return buffer.getvalue()


def write_partition(
    store: ParquetLake,
    part: DaySymbol,
    frame: pl.DataFrame,
    upstream_days: dict[str, list[date]],
    input_hashes: dict[str, dict[str, str]] | None = None,
) -> PartitionWrite:
    problems = contract.schema_problems(frame.schema)
    if problems:
        raise ValueError(f"feature_matrix {part} does not match the feature contract: {'; '.join(problems[:5])}")
    data = serialise(frame, upstream_days, input_hashes)
    path = store.write_bytes(contract.FEATURES_ASSET, part, data)
    return PartitionWrite(contract.FEATURES_ASSET, part, path, frame.height, sha256_bytes(data))


def read_partition(store: ParquetLake, part: DaySymbol) -> tuple[pl.DataFrame, dict[str, str]]:
    """The stored frame and its file's key-value metadata."""
    try:
        data = store.read_bytes(contract.FEATURES_ASSET, part)
    except FileNotFoundError:
        path = store.partition_path(contract.FEATURES_ASSET, part)
        raise FileNotFoundError(f"feature_matrix {part} is not materialized ({path})") from None
    return pl.read_parquet(data), pl.read_parquet_metadata(data)


def recorded_contract(kv: dict[str, str]) -> dict | None:
    try:
        return json.loads(kv[CONTRACT_KEY])
    except (KeyError, ValueError):
        return None


def recorded_inputs(kv: dict[str, str]) -> dict[str, list[date]] | None:
    try:
        raw = json.loads(kv[INPUTS_KEY])
        return {a: [date.fromisoformat(d) for d in raw.get(a, [])] for a in UPSTREAM}
    except (KeyError, ValueError, TypeError):
        return None


def recorded_hashes(kv: dict[str, str]) -> dict[str, dict[str, str]] | None:
    """Upstream content hashes the file records (None for files written before they were)."""
    try:
        raw = json.loads(kv[INPUT_HASHES_KEY])
        return {a: dict(raw.get(a, {})) for a in UPSTREAM}
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


READ_THREADS = 8  # many small files: reading them concurrently hides the per-file latency


def _read_or_none(store: ParquetLake, asset: str, part: DaySymbol) -> tuple[pl.DataFrame, str] | None:
    """The partition with ``symbol`` and the SHA-256 of its file, or None when absent."""
    try:
        data = store.read_bytes(asset, part)  # one GET on an object store
    except FileNotFoundError:
        return None
    return pl.read_parquet(data).with_columns(symbol=pl.lit(part.symbol)), sha256_bytes(data)


def read_many(store: ParquetLake, asset: str, parts: list[DaySymbol]) -> tuple[pl.DataFrame | None, list[DaySymbol], dict[DaySymbol, str]]:
    """Like ``ParquetLake.read_many(missing_ok=True)``, concurrently; also returns the absent
    parts and the SHA-256 of every file read."""
    parts = sorted(set(parts))
    with ThreadPoolExecutor(READ_THREADS) as pool:
        read = list(pool.map(lambda p: _read_or_none(store, asset, p), parts))
    absent = [p for p, r in zip(parts, read) if r is None]
    shas = {p: r[1] for p, r in zip(parts, read) if r is not None}
    present = [r[0] for r in read if r is not None]
    return (pl.concat(present, how="vertical") if present else None), absent, shas


def read_partitions(store: ParquetLake, parts: list[DaySymbol]) -> list[tuple[pl.DataFrame, dict[str, str]] | None]:
    """Stored feature partitions (frame, file metadata), concurrently; None where absent."""

    def one(part):
        try:
            return read_partition(store, part)
        except FileNotFoundError:
            return None

    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(one, parts))


def read_inputs(store: ParquetLake, wanted: dict[str, list[DaySymbol]]) -> tuple[Inputs, dict[str, list[DaySymbol]], dict[str, dict[DaySymbol, str]]]:
    """Read the listed upstream partitions (those that exist); returns inputs, what was
    absent, and the SHA-256 of each file read."""
    frames, absent, shas = {}, {}, {}
    for asset in UPSTREAM:
        frame, absent[asset], shas[asset] = read_many(store, asset, wanted.get(asset, []))
        frames[asset] = conform(asset, frame)
    return Inputs(*(frames[a] for a in UPSTREAM)), absent, shas
