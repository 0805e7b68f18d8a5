"""Dagster's standard metadata from the catalog: a lake asset declares its columns
(``dagster/column_schema``), each partition's materialization the rows it published
(``dagster/row_count``), and every asset of the code location has a ``code_version``."""

from datetime import date

import polars as pl
from dagster import DagsterInstance, materialize

from quant_assets.assets import market_checks
from quant_assets.assets.market import market_bars
from quant_assets.assets.metadata import COLUMN_SCHEMA_KEY, ROW_COUNT_KEY, dtype_name, table_schema
from quant_assets.catalog import columns_for, schema_for
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets.resources.market_data import FileDropMarketData
from quant_assets.runs import PartitionRange

DAYS = PartitionRange(DaySymbol(date(2025, 10, 5), "BTC-USDT"), DaySymbol(date(2025, 10, 6), "ETH-USDT"))


def _catalog_columns(asset: str) -> list[tuple[str, str]]:
    return [(name, dtype_name(dtype)) for name, dtype in schema_for(asset).columns.items()]


def test_dtype_names_are_short_type_strings():
    assert dtype_name(pl.Float64()) == "Float64"
    assert dtype_name(pl.Datetime("us", "UTC")) == "Datetime(us, UTC)"
    assert dtype_name(pl.Datetime("ns")) == "Datetime(ns)"
    assert dtype_name(pl.Array(pl.Float32, 384)) == "Array(Float32, 384)"
    assert [c.name for c in table_schema({"a": pl.String(), "b": pl.Int64()}).columns] == ["a", "b"]


def test_market_bars_records_its_row_count_and_declares_the_catalog_columns(qa_home, drop_folder):
    lake_root = qa_home / "lake"
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [market_bars, market_checks.market_bars_checks],
            resources={
                "lake": LakeResource(root=str(lake_root)),
                "market_data": FileDropMarketData(folder=str(drop_folder), source_name="binance-spot"),
            },
            instance=instance,
            tags=DAYS.tags,
        )
        assert result.success
        mats = result.asset_materializations_for_node(BARS_ASSET)
    lake = ParquetLake(str(lake_root))
    assert len(mats) == 4  # 2 days x 2 symbols
    for mat in mats:
        part = DaySymbol(date.fromisoformat(mat.partition.split("|")[0]), mat.partition.split("|")[1])
        assert mat.metadata[ROW_COUNT_KEY].value == lake.read(BARS_ASSET, part).height > 0
    declared = market_bars.specs_by_key[market_bars.key].metadata[COLUMN_SCHEMA_KEY].value
    assert [(c.name, c.type) for c in declared.columns] == _catalog_columns(BARS_ASSET)
    assert ("ts", "Datetime(us, UTC)") in _catalog_columns(BARS_ASSET)


def test_every_asset_has_a_code_version_and_every_catalog_asset_its_columns():
    from quant_assets.definitions import build_definitions

    specs = {spec.key.to_user_string(): spec for spec in build_definitions().resolve_all_asset_specs()}
    assert specs
    assert {key for key, spec in specs.items() if not spec.code_version} == set()
    for asset in ("market_bars", "derivatives", "social_text", "text_embeddings", "text_latents", "feature_matrix"):
        declared = specs[asset].metadata[COLUMN_SCHEMA_KEY].value
        assert [(c.name, c.type) for c in declared.columns] == _catalog_columns(asset), asset
    for asset in ("labels", "oos_eval"):  # no lake schema; their spec's columns
        declared = specs[asset].metadata[COLUMN_SCHEMA_KEY].value
        assert [(c.name, c.type) for c in declared.columns] == [(n, dtype_name(t)) for n, t in columns_for(asset).items()], asset
    # a digest of the computing source: stable across loads, different between unrelated assets
    assert specs["market_bars"].code_version != specs["labels"].code_version
