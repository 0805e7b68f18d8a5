"""The partitioned parquet lake: hive-style paths, atomic writes, content hashes."""

from quant_assets.lake.store import ParquetLake, PartitionWrite

__all__ = ["ParquetLake", "PartitionWrite"]
