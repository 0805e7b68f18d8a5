"""A toy source asset, for the catalog's test: what a new source brings (its spec, a Dagster
asset, a file-drop resource and its unpacked-bundle twin), written outside the product.

It joins the product only through ``catalog.registered(TOY)``: the Definitions, the source
schedules, the bundle-import twin, the bundle export and the DuckDB views then see it.
"""

import os
from pathlib import Path

import polars as pl
from dagster import AssetExecutionContext, BackfillPolicy, ConfigurableResource, MaterializeResult, asset

from quant_assets import settings
from quant_assets.catalog import LakeAsset, Source
from quant_assets.lake.schemas import AssetSchema
from quant_assets.partitions import daily_symbol_partitions, parse_keys
from quant_assets.resources.lake import LakeResource
from quant_assets.timegrid import TS_DTYPE

TOY_ASSET = "toy_ticks"
TOY_SCHEMA = {"ts": TS_DTYPE, "price": pl.Float64()}
TOY_DROP = "QUANT_ASSETS_TOY_FILE_DROP"  # set: the toy reads dropped files (an external source)


class ToySource(ConfigurableResource):
    def ticks(self, day, symbol: str) -> pl.DataFrame:
        raise NotImplementedError


class FileDropToy(ToySource):
    """Ticks from ``<folder>/<symbol>.parquet``, the rows of the day asked for."""

    folder: str

    def ticks(self, day, symbol: str) -> pl.DataFrame:
        frame = pl.read_parquet(Path(self.folder) / f"{symbol}.parquet")
        return frame.filter(pl.col("ts").dt.date() == day).select(list(TOY_SCHEMA))


class BundleToy(ToySource):
    """The bundle twin: what unpacked bundles hold (nothing, for the toy)."""

    bundles_root: str

    def ticks(self, day, symbol: str) -> pl.DataFrame:
        return pl.DataFrame(schema=TOY_SCHEMA)


def toy_source() -> ToySource:
    """The toy's resource from the environment, as ``definitions.market_data_source`` is the bars'."""
    if TOY_DROP in os.environ:
        return FileDropToy(folder=os.environ[TOY_DROP])
    return BundleToy(bundles_root=settings.home().bundles)


@asset(
    name=TOY_ASSET,
    group_name="toy",
    kinds={"polars", "parquet"},
    partitions_def=daily_symbol_partitions(),
    backfill_policy=BackfillPolicy.single_run(),  # as the product's sources: one run per refresh
)
def toy_ticks(context: AssetExecutionContext, lake: LakeResource, toy_source: ToySource) -> MaterializeResult:
    store = lake.lake()
    rows = 0
    for part in parse_keys(context.partition_keys):
        frame = toy_source.ticks(part.day, part.symbol)
        store.write(TOY_ASSET, part, frame)
        rows += frame.height
    return MaterializeResult(metadata={"run_rows": rows})


TOY = LakeAsset(
    TOY_ASSET,
    "toy",
    frozenset({"polars", "parquet"}),
    AssetSchema(TOY_SCHEMA, key=("ts",)),
    module=__name__,
    source=Source(
        "toy_source",
        f"{__name__}:toy_source",
        f"{__name__}:BundleToy",
        ("QUANT_ASSETS_MAX_TOY_AGE_S", "3600", "a toy tick"),
    ),
)
