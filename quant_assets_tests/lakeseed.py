"""A small lake for the model half's tests, seeded from the shipped sample bundle.

Bars and derivatives are the bundle's own lake files (real Binance data); feature_matrix is
computed by the real feature code and written the way the asset writes it. Text is absent,
so text features are missing and flagged, as they are before October in the demo.
"""

from __future__ import annotations

import shutil
import tarfile
from datetime import date
from pathlib import Path

from quant_assets.derivatives.frame import DERIVATIVES_ASSET
from quant_assets.features import compute as feature_compute
from quant_assets.features.inputs import UPSTREAM, mapped_days, mapped_parts
from quant_assets.features.lake_io import read_inputs, write_partition
from quant_assets.features.contract import empty
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, days_between
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


def write_features(lake_root: Path, parts: list[DaySymbol]) -> None:
    """feature_matrix partitions computed by the real feature code from the lake's upstream."""
    store = ParquetLake(str(lake_root))
    first = min(p.day for p in parts)
    wanted = mapped_parts(parts, first_day=None)
    inputs, absent = read_inputs(store, {a: wanted for a in UPSTREAM})
    read = {a: set(wanted) - set(absent[a]) for a in UPSTREAM}
    upstream_days = {p: {a: [d for d in mapped_days(p.day) if DaySymbol(d, p.symbol) in read[a]] for a in UPSTREAM} for p in parts}
    frame = feature_compute.features_for_partitions(inputs, parts, upstream_days)
    by_part = frame.partition_by("partition", as_dict=True)
    for p in parts:
        rows = by_part.get((str(p),))
        write_partition(store, p, empty() if rows is None else rows.drop("partition"), upstream_days[p])
    del first


def seed(lake_root: Path, first: date, last: date, symbols: list[str], features_from: date | None = None) -> None:
    """Bars and derivatives for first..last; features from ``features_from`` (default first+1) to last."""
    copy_bundle_assets(lake_root, first, last, symbols)
    start = features_from or first
    write_features(lake_root, [DaySymbol(d, s) for d in days_between(start, last) for s in symbols])
