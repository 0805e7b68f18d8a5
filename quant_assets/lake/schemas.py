"""What a lake asset's partitions must look like: columns, dtypes and row key.

The lake names no asset: which asset has which schema is ``quant_assets.catalog``'s to say
(``catalog.schema_for``). Bundle import verifies files against it before it writes anything;
the asset checks verify stored partitions against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class AssetSchema:
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]  # unique within one partition

    def problems(self, schema: pl.Schema) -> list[str]:
        found = dict(schema)
        out = [f"missing column {n}" for n in self.columns if n not in found]
        out += [f"column {n} is {found[n]}, expected {t}" for n, t in self.columns.items() if n in found and found[n] != t]
        out += [f"unexpected column {n}" for n in found if n not in self.columns]
        return out
