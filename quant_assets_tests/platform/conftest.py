"""Fixtures the platform tests share."""

import shutil
from pathlib import Path

import pytest

from quant_assets_tests.conftest import SPOT_FIXTURE


@pytest.fixture
def spot_file_drop(qa_home, tmp_path, monkeypatch) -> Path:
    """market_bars read from a file drop that holds the repository's spot fixture (BTC, ETH,
    SOL, 2025-10-05..07), so no run touches the network; the drop folder, for more files."""
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(SPOT_FIXTURE, drop / "binance_spot_5m.parquet")
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(drop))
    return drop
