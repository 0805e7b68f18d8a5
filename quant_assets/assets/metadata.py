"""Metadata helpers shared by the assets: Dagster's standard keys, per-partition facts, previews.

Every lake asset declares its columns once, on its definition (:func:`lake_asset_metadata`:
``dagster/column_schema`` from the catalog's schema), and each partition's materialization
records the rows it published (``dagster/row_count``, with ``rows``) beside its content hash
and path (:func:`written_facts`). Every asset has a ``code_version`` (:func:`code_version`),
a digest of the source that computes it, so Dagster can tell which materializations are stale.
"""

from __future__ import annotations

import functools

import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from quant_assets import settings
from quant_assets.catalog import columns_for
from quant_assets.lake.store import PartitionWrite

PREVIEW_ROWS = 10
# Dagster's standard metadata keys (the UI shows them as the asset's columns and row count)
COLUMN_SCHEMA_KEY = "dagster/column_schema"
ROW_COUNT_KEY = "dagster/row_count"


def preview(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> MetadataValue:
    if frame.is_empty():
        return MetadataValue.md("_no rows_")
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > rows:
        lines.append(f"\n_{frame.height - rows} more rows_")
    return MetadataValue.md("\n".join(lines))


def time_span(frame: pl.DataFrame, column: str = "ts") -> dict:
    if frame.is_empty():
        return {"first_ts": "none", "last_ts": "none"}
    return {"first_ts": str(frame[column].min()), "last_ts": str(frame[column].max())}


# ---- Dagster's standard metadata --------------------------------------------------------


def dtype_name(dtype: pl.DataType) -> str:
    """A polars dtype as a short type string: ``Float64``, ``Datetime(us, UTC)``, ``Array(Float32, 384)``."""
    if isinstance(dtype, pl.Datetime):
        return f"Datetime({dtype.time_unit}{', ' + dtype.time_zone if dtype.time_zone else ''})"
    if isinstance(dtype, pl.Array):
        return f"Array({dtype_name(dtype.inner)}, {', '.join(str(n) for n in dtype.shape)})"
    if isinstance(dtype, pl.List):
        return f"List({dtype_name(dtype.inner)})"
    return str(dtype)


def table_schema(columns: dict[str, pl.DataType]) -> TableSchema:
    """A polars schema (column -> dtype) as Dagster's ``TableSchema``, in column order."""
    return TableSchema(columns=[TableColumn(name=name, type=dtype_name(dtype)) for name, dtype in columns.items()])


def column_schema_metadata(columns: dict[str, pl.DataType]) -> dict:
    """``{"dagster/column_schema": ...}`` for a definition's ``metadata``."""
    return {COLUMN_SCHEMA_KEY: MetadataValue.table_schema(table_schema(columns))}


def lake_asset_metadata(asset: str) -> dict:
    """A lake asset's definition metadata: ``dagster/column_schema`` from the catalog (its
    schema's columns, or the spec's ``columns``: ``catalog.columns_for``)."""
    return column_schema_metadata(columns_for(asset))


@functools.cache
def code_version(*sources: str) -> str:
    """An asset's ``code_version``: the digest of the source that computes it (``sources``:
    packages and modules, relative to the repository root, e.g. the asset's module and its
    domain package); committed or not, it changes when that code does. Computed once."""
    return settings.source_digest(settings.REPO_ROOT, sources)


def row_count(rows: int) -> dict:
    """``{"dagster/row_count": rows}``: the rows a materialization published."""
    return {ROW_COUNT_KEY: MetadataValue.int(rows)}


def written_facts(write: PartitionWrite) -> dict:
    """What every written partition records about its file: the rows published (``rows`` and
    Dagster's ``dagster/row_count``), its content hash and path."""
    return {
        "rows": write.rows,
        **row_count(write.rows),
        "content_sha256": write.sha256,
        "path": MetadataValue.path(write.path),
    }


def partition_metadata(write: PartitionWrite, frame: pl.DataFrame, extra: dict | None = None, time_column: str = "ts") -> dict:
    """What every lake partition records: rows, time span, content hash, path."""
    return {**written_facts(write), **time_span(frame, time_column), **(extra or {})}
