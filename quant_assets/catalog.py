"""The asset catalog: the one place that names each lake asset's schema.

Each lake asset's schema (columns, dtypes and row key, ``lake.schemas.AssetSchema``) is named
here, once, from the domain module that defines its columns; and so is how stale each source
may be before a consumer stops trusting it. Bundle export and import, the asset checks, the
source assets' freshness policies and the serving data halt all read them from here, so none
can drift from another.

The catalog sits above the domains (it imports their names and columns) and below everything
that reads it (lake users, bundles, resources, assets, automation, serving); the lake itself
names no asset and imports no domain. It is the seed of one declarative spec per lake asset.
"""

from __future__ import annotations

from datetime import timedelta

from quant_assets import settings
from quant_assets.derivatives.frame import DERIVATIVES_ASSET, DERIVATIVES_SCHEMA
from quant_assets.features.contract import COLUMNS as FEATURE_COLUMNS
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.lake.schemas import AssetSchema
from quant_assets.market.bars import BAR_SCHEMA, BARS_ASSET
from quant_assets.social.text import SOCIAL_TEXT_ASSET, SOCIAL_TEXT_SCHEMA
from quant_assets.text.embeddings import TEXT_EMBEDDINGS_ASSET, TEXT_EMBEDDINGS_SCHEMA
from quant_assets.text.latents import TEXT_LATENTS_ASSET, TEXT_LATENTS_SCHEMA

# ---- schemas: what each lake asset's partitions must look like ------------------------------

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


# ---- freshness: how stale each source may be -----------------------------------------------
# One notion for the source assets' Dagster freshness policies (``automation.freshness``) and
# the serving data halt (``serving.settings``): a consumer tolerates a source's newest record
# being at most ``max_age`` old.

_positive_s = settings.bounded(float, 0, above=True)

# asset -> (setting, default seconds, what a record of that source is)
MAX_AGE_SETTINGS = {
    BARS_ASSET: ("QUANT_ASSETS_MAX_BAR_AGE_S", "600", "a closed 5m bar"),
    # hourly statistics are known only when their hour closes, and the exchange publishes late
    DERIVATIVES_ASSET: ("QUANT_ASSETS_MAX_DERIVATIVES_AGE_S", "7200", "an hourly derivatives record"),
    # scraped text arrives in daily files or bundles
    SOCIAL_TEXT_ASSET: ("QUANT_ASSETS_MAX_SOCIAL_AGE_S", "172800", "a social text item"),
}
RENAMED = {"QUANT_ASSETS_SERVING_MAX_BAR_AGE_S": "QUANT_ASSETS_MAX_BAR_AGE_S"}


def _refuse_renamed() -> None:
    for old, new in RENAMED.items():
        if settings.is_set(old):
            raise settings.SettingsError(f"{old} was renamed {new} (one limit for the lake and the serving halt); set {new} instead")


def max_age(asset: str) -> timedelta:
    """How old ``asset``'s newest record may be before a consumer stops trusting it."""
    _refuse_renamed()
    name, default, record = MAX_AGE_SETTINGS[asset]
    return timedelta(seconds=settings.read(name, default, _positive_s, f"seconds {record} may be old, e.g. {default}"))


def max_bar_age() -> timedelta:
    """The serving data halt's limit, and the bars' part of market_bars' freshness policy."""
    return max_age(BARS_ASSET)
