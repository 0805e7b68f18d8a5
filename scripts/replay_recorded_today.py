"""Write recorded Binance 5m bars, shifted whole days so that their last day is today (UTC),
as a file drop for ``QUANT_ASSETS_MARKET_SOURCE=file``: a replayed exchange on today's clock.

The daemon's schedules and automation conditions work on the wall clock (the latest days), so a
drill with recorded data replays it as today's. Only closed bars are ever read from it
(``market_bars`` keeps a bar once ``available_at <= now``), so the bars of the rest of today
appear one refresh at a time, as they would from the exchange.

    .venv/bin/python scripts/replay_recorded_today.py /tmp/qa-drill-drop
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

RECORDED = Path(__file__).resolve().parents[1] / "quant_assets_tests" / "fixtures" / "spot_5m_btc_eth_sol_2025-10-05_07.parquet"


def main(out: str) -> None:
    bars = pl.read_parquet(RECORDED)
    last_day = bars["ts"].max().date()
    shift = timedelta(days=(datetime.now(timezone.utc).date() - last_day).days)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "binance_spot_5m.parquet"
    bars.with_columns(pl.col("ts") + shift).write_parquet(target)
    first, last = (bars["ts"].min() + shift).date(), (bars["ts"].max() + shift).date()
    print(f"wrote {bars.height} bars of {', '.join(sorted(bars['symbol'].unique()))} for {first}..{last} to {target}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: replay_recorded_today.py OUT_FOLDER")
    main(sys.argv[1])
