"""Lake tests run twice where the code differs by store: a local folder and an S3 prefix."""

from __future__ import annotations

import pytest

from quant_assets.lake.store import ParquetLake


@pytest.fixture(params=["local", "s3"])
def lake_root(request, tmp_path) -> str:
    """``<tmp>/home/lake``, or ``s3://<bucket>/<fresh prefix>/home/lake`` on the loopback server."""
    if request.param == "local":
        return str(tmp_path / "home" / "lake")
    return f"{request.getfixturevalue('use_s3').fresh_prefix()}/home/lake"


@pytest.fixture
def lake(lake_root) -> ParquetLake:
    return ParquetLake(lake_root)
