"""``quant-assets audit`` on stored partitions: what it reports and when it exits non-zero."""

from __future__ import annotations

import json
from datetime import date, timedelta

import polars as pl
import pytest

from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.features.lake_io import read_partition, recorded_hashes, recorded_inputs, serialise, write_partition
from quant_assets.lake.store import ParquetLake, parquet_bytes
from quant_assets.partitions import DaySymbol
from quant_assets_tests.features import feature_location, realdata
from quant_assets_tests.features.test_planted_leaks import audit_cli

RUN = (date(2025, 10, 6), date(2025, 10, 7))
PART = DaySymbol(date(2025, 10, 7), "BTC-USDT")


@pytest.fixture(scope="module")
def materialized(tmp_path_factory, instance):
    return feature_location.built_lake(str(tmp_path_factory.mktemp("audit") / "lake"), RUN, instance)


@pytest.fixture
def lake(materialized, tmp_path) -> str:
    return feature_location.copy_lake(materialized, tmp_path)


def _rewrite(lake: str, change) -> tuple[pl.DataFrame, dict]:
    store = ParquetLake(lake)
    frame, kv = read_partition(store, PART)
    changed = change(frame)
    store.write_bytes(FEATURES_ASSET, PART, serialise(changed, recorded_inputs(kv), recorded_hashes(kv)))
    return frame, kv


def test_clean_lake_passes_with_a_report(lake, tmp_path):
    report = tmp_path / "report.json"
    code, output = audit_cli(lake, RUN, "--json-report", str(report))
    assert code == 0, output
    assert output.count(" OK") == 4
    data = json.loads(report.read_text())
    assert data["violations"] == 0 and data["rows_checked"] == 4 * 288 and data["rows_recomputed"] == 4 * 5
    assert data["rows_per_s"] > 0


def test_forward_looking_column_is_caught(lake):
    _rewrite(lake, lambda f: f.with_columns(fwd_ret_1h=pl.col("ret_1h").shift(-12)))
    code, output = audit_cli(lake, RUN)
    assert code == 1
    assert "[no_forward_columns] 2025-10-07|BTC-USDT t=- feature=fwd_ret_1h" in output
    assert "[contract]" in output and "fwd_ret_1h is not in the contract" in output


def test_off_contract_dtype_is_caught(lake):
    _rewrite(lake, lambda f: f.with_columns(pl.col("rv_1d").cast(pl.Float32)))
    code, output = audit_cli(lake, RUN)
    assert code == 1 and "column rv_1d is Float32, contract says Float64" in output


def test_file_without_contract_record_is_caught(lake):
    store = ParquetLake(lake)
    frame, _ = read_partition(store, PART)
    store.write_bytes(FEATURES_ASSET, PART, parquet_bytes(frame))
    code, output = audit_cli(lake, RUN)
    assert code == 1 and "file records no feature contract" in output


def test_silent_fill_and_hidden_missing_are_caught(lake):
    def change(f):
        row = pl.int_range(pl.len())
        return f.with_columns(
            # a value where the flag says missing (silent fill)...
            ret_1d=pl.when(row == 0).then(pl.lit(0.0)).otherwise(pl.col("ret_1d")),
            bars_1d_missing=pl.when(row == 0).then(pl.lit(True)).otherwise(pl.col("bars_1d_missing")),
            # ...and a null where it says present
            basis_bps=pl.when(row == 5).then(None).otherwise(pl.col("basis_bps")),
        )

    frame, _ = _rewrite(lake, change)
    code, output = audit_cli(lake, RUN)
    assert code == 1
    t0, t5 = frame["t"][0].isoformat(), frame["t"][5].isoformat()
    assert f"[missing_policy] 2025-10-07|BTC-USDT t={t0} feature=ret_1d stored=0.0" in output
    assert f"[missing_policy] 2025-10-07|BTC-USDT t={t5} feature=basis_bps stored=None expected=a value" in output


def test_as_of_stamp_after_t_is_caught(lake):
    frame, _ = _rewrite(
        lake,
        lambda f: f.with_columns(
            asof_derivatives=pl.when(pl.int_range(pl.len()) == 40).then(pl.col("t") + timedelta(hours=1)).otherwise(pl.col("asof_derivatives"))
        ),
    )
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT")
    assert code == 1
    t = frame["t"][40]
    assert f"[asof] 2025-10-07|BTC-USDT t={t.isoformat()} feature=asof_derivatives" in output
    assert (t + timedelta(hours=1)).isoformat() in output


def test_stamp_or_value_of_another_record_is_caught_by_the_rederived_asof(lake):
    """Plausible rewrites the structural check cannot see (everything stays <= t): a stamp
    one hour too old, and a funding rate swapped for the one before it."""
    store = ParquetLake(lake)
    frame, _ = read_partition(store, PART)
    fundings = frame["funding_rate"].unique(maintain_order=True).to_list()
    assert len(fundings) >= 3
    row = pl.int_range(pl.len())
    _rewrite(
        lake,
        lambda f: f.with_columns(
            asof_derivatives=pl.when(row == 40).then(pl.col("asof_derivatives") - timedelta(hours=1)).otherwise(pl.col("asof_derivatives")),
            funding_rate=pl.when(pl.col("funding_rate") == fundings[1]).then(pl.lit(fundings[0])).otherwise(pl.col("funding_rate")),
        ),
    )
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT")
    assert code == 1
    t40 = frame["t"][40]
    assert f"[asof_inputs] 2025-10-07|BTC-USDT t={t40.isoformat()} feature=asof_derivatives" in output
    swapped = frame.filter(pl.col("funding_rate") == fundings[1])
    assert f"asof_inputs={swapped.height + 1}" in output
    assert f"feature=funding_rate stored={fundings[0]} expected={fundings[1]}" in output
    assert "[asof]" not in output


def test_missing_partition_and_unknown_asset(lake):
    code, output = audit_cli(lake, (RUN[0], RUN[1] + timedelta(days=1)), "--symbols", "BTC-USDT,ETH-USDT")
    assert code == 1 and "partition is not materialized" in output
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT")
    assert code == 0
    from click.testing import CliRunner

    from quant_assets.cli import main

    result = CliRunner().invoke(main, ["audit", "--asset", "market_bars", "--start", "2025-10-06", "--end", "2025-10-06", "--lake", lake])
    assert result.exit_code == 2 and "no audit is defined" in result.output


def test_records_what_it_read(lake):
    store = ParquetLake(lake)
    stored, kv = read_partition(store, PART)
    assert recorded_inputs(kv) == {
        "market_bars": [date(2025, 10, 6), date(2025, 10, 7)],
        "derivatives": [date(2025, 10, 6), date(2025, 10, 7), date(2025, 10, 8)],
        "text_latents": [date(2025, 10, 6), date(2025, 10, 7)],
    }
    # through Dagster's mapping: the day's last row uses the funding stamped at D+1 00:00
    assert stored.select(pl.col("t").dt.hour(), "funding_age_h").row(-1) == (0, 0.0)
    # unchanged write path: the audit reads exactly what the file records
    frame, kv = read_partition(store, PART)
    write_partition(store, PART, frame, recorded_inputs(kv), recorded_hashes(kv))
    assert audit_cli(lake, RUN, "--strict")[0] == 0


def test_upstream_not_in_the_code_location_is_flagged_and_noted(tmp_path, instance):
    """A code location without text_latents (or derivatives) still builds features: that
    source is missing and flagged, and each partition's metadata says why."""
    from dagster import AssetSpec, Definitions

    from quant_assets import settings
    from quant_assets.assets.features import feature_matrix
    from quant_assets.assets.features_checks import feature_matrix_checks
    from quant_assets.partitions import daily_symbol_partitions
    from quant_assets.resources.lake import LakeResource
    from quant_assets.runs import materialize

    root = str(tmp_path / "lake")
    realdata.write_lake(root, ["BTC-USDT"], realdata.OCT, with_text=False)
    defs = Definitions(
        assets=[AssetSpec(a, partitions_def=daily_symbol_partitions()) for a in ("market_bars", "derivatives")] + [feature_matrix],
        asset_checks=[feature_matrix_checks],
        resources={"lake": LakeResource(root=root)},
    )
    (result,) = materialize(defs, [FEATURES_ASSET], [PART], settings.universe(), instance)
    assert all(ev.passed for ev in result.get_asset_check_evaluations())
    (event,) = result.asset_materializations_for_node(FEATURES_ASSET)
    assert "text_latents: not defined in this code location" in event.metadata["upstream_notes"].value
    frame, _ = read_partition(ParquetLake(root), PART)
    assert frame["text_1h_missing"].all() and frame["asof_text"].is_null().all()
    assert frame["funding_rate"].null_count() == 0
