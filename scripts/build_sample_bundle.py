"""Rebuild data/sample_bundle.tar.gz from ../shared/data (a maintainer's script, not run by users).

The source-level assets run over the raw downloads through their file-drop sources, with
their blocking checks, into a scratch home; the stored partitions are then exported as a
bundle, exactly as ``quant-assets bundle export`` would. The sample is BTC, ETH, SOL:
bars and derivatives from June to November 2025 (enough history for the demo to train and
evaluate models), Reddit text for October and November only, because the scrape in
../shared/data starts on 2025-09-29. Before that the bundle holds no social_text partition
at all: text that was never collected is unknown, not zero posts, so the features built on
it come out missing and flagged (what the models' modality dropout is for).
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
START, END = date(2025, 6, 1), date(2025, 11, 30)
# The assets a bundle carries (what arrives from outside; everything downstream is
# recomputed from them on the importing machine) and the first day each is shipped from.
# The first day of all of them is the default first partition day (settings.DEFAULT_START_DATE).
FIRST_DAY = {"market_bars": START, "derivatives": START, "social_text": date(2025, 10, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(REPO / "data" / "sample_bundle.tar.gz"))
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="sample-bundle-"))
    # The scratch home holds a lake and a Dagster instance of ~100 MB: gone however we exit.
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    os.environ.update(
        QUANT_ASSETS_HOME=str(scratch),
        QUANT_ASSETS_SYMBOLS=",".join(SYMBOLS),
        QUANT_ASSETS_START_DATE=START.isoformat(),
        QUANT_ASSETS_MARKET_SOURCE="file",
        QUANT_ASSETS_FILE_DROP=args.shared,
        QUANT_ASSETS_DERIVATIVES_SOURCE="file",
        QUANT_ASSETS_SOCIAL_SOURCE="file",
        HF_HUB_OFFLINE="1",
    )
    from dagster import DagsterInstance

    from quant_assets.bundles.export import export_lake
    from quant_assets.definitions import build_definitions
    from quant_assets.lake.store import ParquetLake
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.runs import materialize

    defs = build_definitions()
    known = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assets = [a for a in FIRST_DAY if a in known]
    with DagsterInstance.ephemeral() as instance:
        for asset in assets:
            parts = [DaySymbol(d, s) for d in days_between(FIRST_DAY[asset], END) for s in SYMBOLS]
            failed = [r.run_id for r in materialize(defs, [asset], parts, SYMBOLS, instance) if not r.success]
            if failed:
                sys.exit(f"{asset}: a run or one of its blocking checks failed (runs {', '.join(failed)}); nothing exported")
    manifest = export_lake(ParquetLake(str(scratch / "lake")), args.out, START, END, SYMBOLS, assets)
    size = Path(args.out).stat().st_size
    print(f"{args.out}: bundle {manifest.bundle_id}, {len(manifest.files)} files, {sum(f.rows for f in manifest.files)} rows, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
