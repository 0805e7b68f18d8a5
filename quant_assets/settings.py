"""Where state lives and what the universe is, read from the environment once.

Everything the platform writes (the parquet lake, the Dagster instance, the MLflow store,
the trading ledger, landed bundles, caches) lives under one root, ``QUANT_ASSETS_HOME``.
A test or a second deployment is one environment variable away.

Partition definitions must exist when Dagster loads the code location, so the universe and
the first partition day are environment settings rather than run config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".quant_assets_home"

DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"
DEFAULT_START_DATE = "2025-06-01"


@dataclass(frozen=True)
class HomeLayout:
    """The folders under ``QUANT_ASSETS_HOME``; nothing outside it is written."""

    root: str

    @property
    def lake(self) -> str:
        return _join(self.root, "lake")

    @property
    def dagster_home(self) -> str:
        return _join(self.root, "dagster")

    @property
    def mlflow(self) -> str:
        return _join(self.root, "mlflow")

    @property
    def ledger(self) -> str:
        return _join(self.root, "ledger")

    @property
    def bundles(self) -> str:
        """Verified, imported bundles land here; the ``bundle`` source reads from them."""
        return _join(self.root, "bundles")

    @property
    def cache(self) -> str:
        return _join(self.root, "cache")


def _join(root: str, name: str) -> str:
    # Roots may be URLs (s3://bucket/prefix) as well as local paths.
    return root.rstrip("/") + "/" + name


def home() -> HomeLayout:
    return HomeLayout(os.environ.get("QUANT_ASSETS_HOME", str(DEFAULT_HOME)))


def universe() -> list[str]:
    """Symbol partition keys, e.g. ``["BTC-USDT", "ETH-USDT"]``."""
    raw = os.environ.get("QUANT_ASSETS_SYMBOLS", DEFAULT_SYMBOLS)
    return [s.strip() for s in raw.split(",") if s.strip()]


def start_date() -> date:
    return date.fromisoformat(os.environ.get("QUANT_ASSETS_START_DATE", DEFAULT_START_DATE))
