"""A partition's footer metadata is written with its rows in one step, and read back."""

from datetime import date

import polars as pl

from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol

PART = DaySymbol(date(2025, 11, 5), "BTC-USDT")


def test_footer_metadata_travels_with_the_rows_and_is_deterministic(tmp_path):
    store = ParquetLake(str(tmp_path))
    frame = pl.DataFrame({"x": [1.0, 2.0]})
    first = store.write("oos_eval", PART, frame, metadata={"summary": '{"pnl": 0.5}'})
    assert store.read_file_metadata("oos_eval", PART)["summary"] == '{"pnl": 0.5}'
    assert store.read("oos_eval", PART).equals(frame)
    again = store.write("oos_eval", PART, frame, metadata={"summary": '{"pnl": 0.5}'})
    assert again.sha256 == first.sha256, "same rows and metadata, same bytes"
    other = store.write("oos_eval", PART, frame, metadata={"summary": '{"pnl": 0.6}'})
    assert other.sha256 != first.sha256, "the content hash covers the footer too"
    plain = store.write("oos_eval", PART, frame)
    assert "summary" not in store.read_file_metadata("oos_eval", PART) and plain.rows == 2
