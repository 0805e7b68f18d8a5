"""Metadata helpers shared by the assets: per-partition facts and small previews."""

from __future__ import annotations

import polars as pl
from dagster import MetadataValue

from quant_assets.lake.store import PartitionWrite

PREVIEW_ROWS = 10


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


def partition_metadata(
    write: PartitionWrite, frame: pl.DataFrame, extra: dict | None = None, time_column: str = "ts"
) -> dict:
    """What every lake partition records: rows, time span, content hash, path."""
    return {
        "rows": write.rows,
        **time_span(frame, time_column),
        "content_sha256": write.sha256,
        "path": MetadataValue.path(write.path),
        **(extra or {}),
    }
