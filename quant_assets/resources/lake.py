"""The lake as a Dagster resource."""

from dagster import ConfigurableResource

from quant_assets.lake.store import ParquetLake


class LakeResource(ConfigurableResource):
    """The partitioned parquet lake under ``root``: a local folder or ``s3://bucket/prefix``
    (``settings.home().lake``, i.e. ``QUANT_ASSETS_LAKE_ROOT`` when set)."""

    root: str

    def lake(self) -> ParquetLake:
        return ParquetLake(self.root)
