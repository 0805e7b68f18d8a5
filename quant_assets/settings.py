"""Where state lives and what the universe is, read from the environment once.

Everything the platform writes (the parquet lake, the Dagster instance, the MLflow store,
the trading ledger, landed bundles, caches) lives under one root, ``QUANT_ASSETS_HOME``.
A test or a second deployment is one environment variable away.

Partition definitions must exist when Dagster loads the code location, so the universe and
the first partition day are environment settings rather than run config.
"""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".quant_assets_home"

DEFAULT_SYMBOLS = "BTC-USDT,ETH-USDT,SOL-USDT"
DEFAULT_START_DATE = "2025-10-01"


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


DEFAULT_TRAIN_DAYS = 90
DEFAULT_REFIT_DAYS = 7


def _whole_days(variable: str, default: int) -> int:
    raw = os.environ.get(variable, str(default))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw!r}: expected a whole number of days") from None


def train_days() -> int:
    """Length of a model's fit window, in days (``QUANT_ASSETS_TRAIN_DAYS``, default 90)."""
    return _whole_days("QUANT_ASSETS_TRAIN_DAYS", DEFAULT_TRAIN_DAYS)


def refit_days() -> int:
    """Refit cadence: days that share a cadence anchor share one fit (``QUANT_ASSETS_REFIT_DAYS``, default 7)."""
    return _whole_days("QUANT_ASSETS_REFIT_DAYS", DEFAULT_REFIT_DAYS)


@functools.cache
def code_version() -> str:
    """The git commit of the checkout (``+dirty`` with uncommitted changes), else 'unknown'."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
