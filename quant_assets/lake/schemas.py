"""What each lake asset's partitions must look like: columns, dtypes and row key.

Bundle import verifies files against this registry before it writes anything; the asset
checks verify stored partitions against it. One registry, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from quant_assets.derivatives.frame import DERIVATIVES_ASSET, DERIVATIVES_SCHEMA
from quant_assets.features.contract import COLUMNS as FEATURE_COLUMNS
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.social.text import SOCIAL_TEXT_ASSET, SOCIAL_TEXT_SCHEMA
from quant_assets.text.embeddings import TEXT_EMBEDDINGS_ASSET, TEXT_EMBEDDINGS_SCHEMA
from quant_assets.text.latents import TEXT_LATENTS_ASSET, TEXT_LATENTS_SCHEMA


@dataclass(frozen=True)
class AssetSchema:
    columns: dict[str, pl.DataType]
    key: tuple[str, ...]  # unique within one partition

    def problems(self, schema: pl.Schema) -> list[str]:
        found = dict(schema)
        out = [f"missing column {n}" for n in self.columns if n not in found]
        out += [
            f"column {n} is {found[n]}, expected {t}"
            for n, t in self.columns.items()
            if n in found and found[n] != t
        ]
        out += [f"unexpected column {n}" for n in found if n not in self.columns]
        return out


ASSET_SCHEMAS: dict[str, AssetSchema] = {
    BARS_ASSET: AssetSchema(BAR_SCHEMA, key=("ts",)),
    FEATURES_ASSET: AssetSchema(FEATURE_COLUMNS, key=("t",)),
    DERIVATIVES_ASSET: AssetSchema(DERIVATIVES_SCHEMA, key=("metric", "event_time")),
    SOCIAL_TEXT_ASSET: AssetSchema(SOCIAL_TEXT_SCHEMA, key=("item_id",)),
    TEXT_EMBEDDINGS_ASSET: AssetSchema(TEXT_EMBEDDINGS_SCHEMA, key=("item_id",)),
    TEXT_LATENTS_ASSET: AssetSchema(TEXT_LATENTS_SCHEMA, key=("ts",)),
}


def schema_for(asset: str) -> AssetSchema:
    if asset not in ASSET_SCHEMAS:
        raise KeyError(f"unknown lake asset {asset!r}; known: {', '.join(sorted(ASSET_SCHEMAS))}")
    return ASSET_SCHEMAS[asset]
