"""The lake as a Dagster resource."""


from dagster import ConfigurableResource

from quant_assets.lake.store import ParquetLake


class LakeResource(ConfigurableResource):
    """The partitioned parquet lake under ``root`` (a local path or any fsspec URL)."""

    root: str

    def lake(self) -> ParquetLake:
        return ParquetLake(self.root)
