"""A small lake for the model half's tests, seeded from the shipped sample bundle.

Bars and derivatives are the bundle's own lake files (real Binance data); feature_matrix is
materialized by the real asset, checks included. Text is absent,
so text features are missing and flagged, as they are before October in the demo.
"""

from __future__ import annotations

import shutil
import tarfile
from datetime import date
from pathlib import Path

from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import days_between
from quant_assets.settings import REPO_ROOT

SAMPLE_BUNDLE = REPO_ROOT / "data" / "sample_bundle.tar.gz"


def copy_bundle_assets(lake_root: Path, first: date, last: date, symbols: list[str], assets=(BARS_ASSET, DERIVATIVES_ASSET)) -> None:
    """Put the bundle's partitions of ``assets`` for first..last x symbols under ``lake_root``."""
    wanted = {(a, d.isoformat(), s) for a in assets for d in days_between(first, last) for s in symbols}
    with tarfile.open(SAMPLE_BUNDLE, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) != 5 or parts[0] != "lake":
                continue
            key = (parts[1], parts[2].removeprefix("date="), parts[3].removeprefix("symbol="))
            if key in wanted:
                target = lake_root / "/".join(parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)


def write_features(lake_root: Path, first: date, last: date, symbols: list[str]) -> None:
    """feature_matrix for first..last, materialized by the real asset (and its checks)."""
    from dagster import DagsterInstance

    from quant_assets_tests.features.feature_location import check_results, run_features

    with DagsterInstance.ephemeral() as instance:
        results = run_features(str(lake_root), (first, last), symbols, instance)
    failed = [name for name, ev in check_results(results).items() if not ev.passed]
    assert all(r.success for r in results) and not failed, f"seeding feature_matrix failed: {failed}"


def seed(lake_root: Path, first: date, last: date, symbols: list[str], features_from: date | None = None) -> None:
    """Bars and derivatives for first..last; features from ``features_from`` (default first) to last."""
    copy_bundle_assets(lake_root, first, last, symbols)
    write_features(lake_root, features_from or first, last, symbols)
