"""A content-addressed embedding cache: (model version, SHA-256 of the text) -> vector.

Shards of parquet under ``<root>/<model version>/``, each written once, atomically, and never
changed; a lookup reads the shards (memoised per process, since they are immutable). Two
runs that embed the same new text at once both write it; the copies are identical and a
lookup keeps one. Nothing is ever embedded twice by one run, and a later run finds
everything earlier runs wrote.
"""

from __future__ import annotations

import re
import threading
import time
import uuid

import numpy as np
import polars as pl
from upath import UPath

from quant_assets.lake.store import atomic_write_bytes, parquet_bytes

_SHARDS: dict[str, pl.DataFrame] = {}
_LOCK = threading.Lock()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


class EmbeddingCache:
    def __init__(self, root: str, model_version: str, dimensions: int):
        self.model_version = model_version
        self.dimensions = dimensions
        self.dir = UPath(root) / _safe(model_version)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        return {"text_sha256": pl.String(), "embedding": pl.Array(pl.Float32, self.dimensions)}

    def shards(self) -> list[UPath]:
        if not self.dir.exists():
            return []
        return sorted(p for p in self.dir.iterdir() if p.name.startswith("shard-") and p.name.endswith(".parquet"))

    def _read_shard(self, path: UPath) -> pl.DataFrame:
        key = str(path)
        with _LOCK:
            if key in _SHARDS:
                return _SHARDS[key]
        with path.open("rb") as handle:
            frame = pl.read_parquet(handle.read())
        with _LOCK:
            _SHARDS[key] = frame
        return frame

    def lookup(self, shas: list[str] | pl.Series) -> pl.DataFrame:
        """Cached vectors for the given hashes (those found; one row per hash)."""
        wanted = pl.Series("text_sha256", list(shas), dtype=pl.String).unique()
        frames = [self._read_shard(p) for p in self.shards()]
        if not frames or wanted.is_empty():
            return pl.DataFrame(schema=self.schema)
        everything = pl.concat(frames, how="vertical")
        return everything.filter(pl.col("text_sha256").is_in(wanted.implode())).unique("text_sha256", keep="first")

    def put(self, shas: list[str], vectors: np.ndarray) -> str | None:
        """Store new vectors as one new shard; returns its path."""
        if len(shas) == 0:
            return None
        if vectors.shape != (len(shas), self.dimensions):
            raise ValueError(f"expected {len(shas)} vectors of {self.dimensions} dims, got {vectors.shape}")
        frame = pl.DataFrame(
            {
                "text_sha256": pl.Series(shas, dtype=pl.String),
                "embedding": pl.Series(vectors.astype(np.float32), dtype=pl.Array(pl.Float32, self.dimensions)),
            }
        )
        data = parquet_bytes(frame)
        name = f"shard-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:12]}.parquet"
        target = self.dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        with _LOCK:
            _SHARDS[str(target)] = frame
        return str(target)

    def size(self) -> int:
        return sum(self._read_shard(p).height for p in self.shards())
