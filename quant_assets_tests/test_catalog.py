"""The catalog: one spec per lake asset, and the lists derived from it.

The derived lists must equal what the code wrote down by hand before the catalog held them;
and a toy source, added through a spec and a module of its own (``toy_source``) with nothing
else touched, must reach the Definitions, the source schedules, the bundle-import twin, the
bundle export and the DuckDB views.
"""

from datetime import date, datetime, time, timedelta, timezone

import polars as pl
import pytest
from dagster import AssetKey, build_schedule_context, instance_for_test, materialize

from quant_assets import catalog, settings
from quant_assets.assets.gate import LEAKAGE_ASSETS
from quant_assets.assets.models import RAW_ASSETS
from quant_assets.automation.schedules import SOURCE_JOB, SOURCE_RESOURCES, external_sources, source_resources
from quant_assets.bundles.export import export_lake
from quant_assets.features.inputs import UPSTREAM
from quant_assets.lake.duckdb_views import lake_views
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets.resources.lake import LakeResource
from quant_assets_tests.toy_source import TOY, TOY_ASSET, TOY_DROP, BundleToy, FileDropToy, toy_ticks

PRODUCT = ("market_bars", "derivatives", "social_text", "text_embeddings", "text_latents", "feature_matrix", "labels",
           "multi_horizon_model", "oos_eval", "gate_verdict")  # fmt: skip


def test_the_derived_lists_are_the_ones_written_by_hand_before():
    assert tuple(a.name for a in catalog.lake_assets()) == PRODUCT
    assert RAW_ASSETS == catalog.raw_inputs() == ("market_bars", "derivatives", "social_text")
    assert list(LEAKAGE_ASSETS.items()) == [
        *((a, "both") for a in ("market_bars", "derivatives", "social_text", "text_embeddings", "text_latents", "feature_matrix", "labels")),
        ("multi_horizon_model", "served"),
        ("oos_eval", "evidence"),
    ]
    assert SOURCE_RESOURCES == source_resources() == {"market_data": "market_bars", "derivatives_data": "derivatives", "social_source": "social_text"}
    assert list(SOURCE_RESOURCES) == ["market_data", "derivatives_data", "social_source"]  # dependency order
    assert sorted(catalog.ASSET_SCHEMAS) == sorted(catalog.asset_schemas()) == [
        "derivatives", "feature_matrix", "market_bars", "social_text", "text_embeddings", "text_latents"
    ]  # fmt: skip
    assert {a: k for a, s in catalog.ASSET_SCHEMAS.items() for k in [s.key]} == {
        "market_bars": ("ts",), "feature_matrix": ("t",), "derivatives": ("metric", "event_time"),
        "social_text": ("item_id",), "text_embeddings": ("item_id",), "text_latents": ("ts",),
    }  # fmt: skip
    assert catalog.MAX_AGE_SETTINGS == {
        "market_bars": ("QUANT_ASSETS_MAX_BAR_AGE_S", "600", "a closed 5m bar"),
        "derivatives": ("QUANT_ASSETS_MAX_DERIVATIVES_AGE_S", "7200", "an hourly derivatives record"),
        "social_text": ("QUANT_ASSETS_MAX_SOCIAL_AGE_S", "172800", "a social text item"),
    }
    assert set(UPSTREAM) <= set(catalog.ASSET_SCHEMAS)  # the feature matrix's inputs (a domain list, below the catalog)
    assert catalog.asset_modules() == tuple(
        f"quant_assets.assets.{m}" for m in ("market", "derivatives", "social", "features", "labels", "evaluation")
    )
    assert catalog.check_modules() == tuple(
        f"quant_assets.assets.{m}_checks" for m in ("market", "derivatives", "social", "features", "labels", "models", "evaluation", "gate")
    )


def test_each_spec_says_what_its_dagster_asset_declares(qa_home):
    from quant_assets_tests.automation.condition_ticks import definitions

    graph = definitions().resolve_asset_graph()
    for spec in catalog.lake_assets():
        node = graph.get(AssetKey(spec.name))
        assert node.group_name == spec.group, spec.name
        assert set(node.kinds) == set(spec.kinds), spec.name


def test_a_registered_spec_is_catalogued_only_while_registered():
    with catalog.registered(TOY):
        assert catalog.lake_assets()[-1] is TOY and TOY_ASSET in catalog.asset_schemas()
        with pytest.raises(ValueError, match="already catalogued"):
            catalog.register(TOY)
    assert TOY_ASSET not in catalog.asset_schemas() and TOY not in catalog.lake_assets()


def _drop_ticks(folder, day: date, symbols) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    for i, symbol in enumerate(symbols):
        ts = [start + timedelta(minutes=5 * k) for k in range(3)]
        pl.DataFrame({"ts": ts, "price": [100.0 + i, 101.0 + i, 102.0 + i]}).write_parquet(folder / f"{symbol}.parquet")


def test_a_toy_source_added_by_a_spec_reaches_definitions_schedules_bundles_and_views(qa_home, monkeypatch, tmp_path):
    from quant_assets.definitions import build_definitions, bundle_definitions

    drop = tmp_path / "toy_drop"
    drop.mkdir()
    monkeypatch.setenv(TOY_DROP, str(drop))  # the toy reads dropped files: an external source
    for name in ("QUANT_ASSETS_MARKET_SOURCE", "QUANT_ASSETS_DERIVATIVES_SOURCE", "QUANT_ASSETS_SOCIAL_SOURCE"):
        monkeypatch.delenv(name, raising=False)  # the product's sources read bundles
    day, universe = date(2025, 10, 2), settings.universe()
    with catalog.registered(TOY):
        defs = build_definitions()
        # the Definitions: the asset, its resource, and the source refresh job over it
        assert AssetKey(TOY_ASSET) in defs.resolve_asset_graph().get_all_asset_keys()
        assert isinstance(defs.resources["toy_source"], FileDropToy)
        assert AssetKey(TOY_ASSET) in defs.resolve_job_def(SOURCE_JOB).asset_layer.selected_asset_keys
        # a source schedule asks for it (the product's sources read bundles here: only the toy is external)
        assert external_sources(defs.resources) == [TOY_ASSET]
        daily = next(s for s in defs.schedules if s.name == "daily_sources")
        with instance_for_test() as instance:
            at = datetime.combine(day + timedelta(days=1), time(0, 10), tzinfo=timezone.utc)
            request = daily.evaluate_tick(build_schedule_context(instance=instance, scheduled_execution_time=at)).run_requests[0]
        assert request.asset_selection == [AssetKey(TOY_ASSET)]
        # the bundle-import twin swaps its resource for the bundle twin
        assert isinstance(bundle_definitions(settings.home()).resources["toy_source"], BundleToy)

        # materialized, it is a DuckDB view and in a bundle exported with the default asset list
        _drop_ticks(drop, day, universe)
        lake_root = str(qa_home / "lake")
        result = materialize(
            [toy_ticks],
            partition_key=str(DaySymbol(day, universe[0])),
            resources={"lake": LakeResource(root=lake_root), "toy_source": FileDropToy(folder=str(drop))},
        )
        assert result.success
        rows = lake_views(lake_root).execute(f"SELECT symbol, count(*) FROM {TOY_ASSET} GROUP BY symbol").fetchall()
        assert rows == [(universe[0], 3)]
        manifest = export_lake(ParquetLake(lake_root), tmp_path / "toy.tar", day, day)
        assert [(f.asset, f.symbol, f.rows) for f in manifest.files] == [(TOY_ASSET, universe[0], 3)]
    assert TOY_ASSET not in catalog.asset_schemas()
