"""Object-store lake benchmark: the lake's operations on S3 (moto on loopback) and on a local disk.

    python benchmarks/bench_s3_lake.py                  # 90 days x 3 symbols of 5m bars
    python benchmarks/bench_s3_lake.py --days 10        # a quick look

The same partitions (the test fixture's real 5m bars, one 288-row day per partition, copied
to ``--days`` days) go through each lake: written one by one (``ParquetLake.write``), staged
and published (write-audit-publish: rename locally, server-side copy and delete on S3),
listed (``partitions``), read back (``read_many``) and counted through the DuckDB view.
For S3 the number of requests each step sends is counted too: that, not loopback time, is
what real S3 (tens of ms a request) multiplies. The listing is also timed the old way (a
request per folder and marker), for the reason it is a prefix listing now.

moto on loopback answers in about a millisecond, so seconds here are a floor, not S3's
figures. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        os.environ["QUANT_ASSETS_S3_ENDPOINT_URL"] = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=os.environ["QUANT_ASSETS_S3_ENDPOINT_URL"]).create_bucket(Bucket="bench")
        frames = _frames(args.days)
        with tempfile.TemporaryDirectory() as tmp:
            local = _run(f"{tmp}/home/lake", frames)
        s3 = _run("s3://bench/home/lake", frames)
    finally:
        server.stop()
    report = {"benchmark": "s3_lake", "partitions": len(frames), "local": local, "s3_moto_loopback": s3}
    print(
        f"{len(frames)} partitions; publish {local['publish_parts_per_s']:.0f}/s local, {s3['publish_parts_per_s']:.0f}/s S3; "
        f"listing {s3['list_requests']} requests (old walk {s3['list_walk_requests']})",
        file=sys.stderr,
    )
    print(json.dumps(report, sort_keys=True))
    return 0


def _frames(days: int):
    from quant_assets.partitions import DaySymbol
    from quant_assets_tests.bundles.archives import fixture_partitions

    by_symbol = {p.symbol: f for p, f in fixture_partitions()}
    first = date(2025, 1, 1)
    symbols = sorted(by_symbol) + ["SOL-USDT"]
    return [(DaySymbol(first + timedelta(days=d), s), by_symbol.get(s, by_symbol["BTC-USDT"])) for d in range(days) for s in symbols]


def _run(root: str, frames) -> dict:
    from quant_assets.lake.duckdb_views import lake_views
    from quant_assets.lake.location import is_local
    from quant_assets.lake.publish import StagedLake
    from quant_assets.lake.store import PART_FILE, ParquetLake
    from quant_assets.market.bars import BARS_ASSET

    lake = ParquetLake(root)
    requests = _RequestCounter(None if is_local(lake.root) else lake.root.fs)
    out: dict = {}
    half = len(frames) // 2

    with requests.step(out, "write"):
        for part, frame in frames[:half]:
            lake.write(BARS_ASSET, part, frame)
    staged = StagedLake.begin(lake, "bench-run", BARS_ASSET)
    for part, frame in frames[half:]:
        staged.write(BARS_ASSET, part, frame)
    staged.seal()
    with requests.step(out, "publish"):
        StagedLake.sealed(lake, "bench-run", BARS_ASSET).publish({})
    with requests.step(out, "list"):
        parts = lake.partitions(BARS_ASSET)
    assert len(parts) == len(frames)
    if not is_local(lake.root):
        base = lake.root / BARS_ASSET
        with requests.step(out, "list_walk"):  # the folder walk partitions() did before
            walked = [s for d in base.iterdir() for s in d.iterdir() if (s / PART_FILE).exists()]
        assert len(walked) == len(frames)
    with requests.step(out, "read_many"):
        rows = lake.read_many(BARS_ASSET, parts).height
    with requests.step(out, "duckdb_count"):
        counted = lake_views(root).execute("select count(*) from market_bars").fetchone()[0]
    assert rows == counted == 288 * len(frames)
    out["publish_parts_per_s"] = round((len(frames) - half) / out["publish_s"], 1)
    out["write_parts_per_s"] = round(half / out["write_s"], 1)
    return out


class _RequestCounter:
    """Counts the S3 API calls s3fs makes (``_call_s3``), per step; local lakes count none."""

    def __init__(self, fs):
        self.counts: Counter = Counter()
        if fs is not None:
            real = type(fs)._call_s3

            async def counted(this, method, *a, **k):
                self.counts[method] += 1
                return await real(this, method, *a, **k)

            type(fs)._call_s3 = counted
            self.fs_type, self.real = type(fs), real
        self.fs = fs

    def step(self, out: dict, name: str):
        counter = self

        class _Step:
            def __enter__(self):
                counter.counts.clear()
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                out[f"{name}_s"] = round(time.perf_counter() - self.start, 3)
                if counter.fs is not None:
                    out[f"{name}_requests"] = sum(counter.counts.values())

        return _Step()


if __name__ == "__main__":
    raise SystemExit(main())
