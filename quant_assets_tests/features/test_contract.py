from __future__ import annotations

import hashlib

import polars as pl
import pytest

from quant_assets.catalog import schema_for
from quant_assets.features import contract


def test_contract_is_ordered_typed_and_hashed():
    names = contract.COLUMN_NAMES
    assert len(names) == len(set(names))
    assert names[:5] == ("t", "asof_bars", "asof_derivatives", "asof_text", "text_projection_fit_end")
    assert list(names[5 : 5 + len(contract.FEATURE_NAMES)]) == list(contract.FEATURE_NAMES)
    assert list(names[-len(contract.FLAG_NAMES) :]) == list(contract.FLAG_NAMES)
    assert all(contract.COLUMNS[f] == pl.Boolean() for f in contract.FLAG_NAMES)
    text = contract.SCHEMA_VERSION + "\n" + "\n".join(f"{n}:{t}" for n, t in contract.COLUMNS.items())
    assert contract.CONTRACT_HASH == hashlib.sha256(text.encode()).hexdigest()
    assert contract.metadata()["contract_hash"] == contract.CONTRACT_HASH


def test_every_feature_has_a_flag_and_a_source():
    for feature in contract.FEATURES:
        assert feature.flag in contract.FLAG_NAMES
        assert feature.source in contract.SOURCES
    assert len(contract.LATENT_FEATURES) == 2 * contract.LATENT_DIM


def test_hash_changes_with_a_dtype(monkeypatch):
    changed = dict(contract.COLUMNS)
    changed["ret_1h"] = pl.Float32()
    monkeypatch.setattr(contract, "COLUMNS", changed)
    assert contract.contract_hash() != contract.CONTRACT_HASH


def test_no_label_or_forward_name_in_contract():
    assert not [n for n in contract.COLUMN_NAMES if contract.FORBIDDEN_NAME.search(n)]
    for bad in ("fwd_ret_1h", "label", "target_4h", "ret_future", "y_1h", "next_close"):
        assert contract.FORBIDDEN_NAME.search(bad), bad


def test_lake_schema_registry_uses_the_contract():
    assert schema_for(contract.FEATURES_ASSET).columns == contract.COLUMNS
    assert schema_for(contract.FEATURES_ASSET).key == ("t",)


def test_schema_problems_name_order_dtype_and_extra_columns():
    frame = contract.empty()
    assert contract.schema_problems(frame.schema) == []
    swapped = frame.select("asof_bars", "t", *contract.COLUMN_NAMES[2:])
    assert "order" in contract.schema_problems(swapped.schema)[0]
    assert contract.schema_problems(frame.with_columns(pl.col("ret_1h").cast(pl.Float32)).schema)
    assert contract.schema_problems(frame.with_columns(fwd_ret=pl.lit(1.0)).schema) == ["column fwd_ret is not in the contract"]
    assert contract.schema_problems(frame.drop("rv_1d").schema) == ["missing column rv_1d"]


def test_writer_refuses_a_frame_off_contract(tmp_path):
    from datetime import date

    from quant_assets.features.lake_io import write_partition
    from quant_assets.lake.store import ParquetLake
    from quant_assets.partitions import DaySymbol

    with pytest.raises(ValueError, match="feature contract"):
        write_partition(ParquetLake(str(tmp_path)), DaySymbol(date(2025, 10, 6), "BTC-USDT"), contract.empty().drop("ret_1h"), {})
