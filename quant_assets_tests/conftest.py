"""Shared test setup: every test gets its own QUANT_ASSETS_HOME and Dagster home.

Partition definitions are built from the environment when the code location is imported,
so the universe and first day are fixed here, before any quant_assets import: BTC, ETH,
SOL against USDT from 2025-10-01, the first day of the shipped sample's text (its bars, and
the default first day, start on 2025-06-01).
"""

import os
from pathlib import Path

os.environ.setdefault("QUANT_ASSETS_SYMBOLS", "BTC-USDT,ETH-USDT,SOL-USDT")
os.environ.setdefault("QUANT_ASSETS_START_DATE", "2025-10-01")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"
SPOT_FIXTURE = FIXTURES / "spot_5m_btc_eth_sol_2025-10-05_07.parquet"


@pytest.fixture
def qa_home(tmp_path, monkeypatch) -> Path:
    """A fresh QUANT_ASSETS_HOME (lake, bundles, Dagster instance) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("QUANT_ASSETS_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return home
