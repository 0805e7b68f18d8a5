"""A write killed mid-partition (SIGKILL, no cleanup) leaves the old partition whole.

A child process overwrites a stored partition with a large frame through
``ParquetLake.write``; its file writes are slowed so that it stops, half of the new file on
disk, and waits to be killed. After the kill the old partition must read back with its old
hash, and the half-written temporary file must be invisible to the lake.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap

from quant_assets.lake.store import PART_FILE, ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets_tests.bundles.archives import fixture_partitions

CHILD = textwrap.dedent(
    """
    import builtins, os, sys, time
    from datetime import date

    from quant_assets.lake import store
    from quant_assets.partitions import DaySymbol
    from quant_assets_tests.lake.bigframe import big_bars

    class HalfThenWait:
        # Writes half of what it is given, makes it durable, says so, then waits to be killed.
        def __init__(self, handle):
            self.handle = handle
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.handle.close()
        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            os.fsync(self.handle.fileno())
            print("HALF", len(data), flush=True)
            time.sleep(120)
        def __getattr__(self, name):
            return getattr(self.handle, name)

    # store.py's module globals shadow builtins, so only the lake's own writes are slowed.
    store.open = lambda path, mode="r", *a, **k: HalfThenWait(builtins.open(path, mode, *a, **k))

    frame = big_bars()  # ~17 MB of parquet: big enough to stop halfway through
    store.ParquetLake(sys.argv[1]).write("market_bars", DaySymbol(date(2025, 10, 6), "BTC-USDT"), frame)
    print("FINISHED", flush=True)
    """
)


def test_killed_write_leaves_the_old_partition(tmp_path):
    lake = ParquetLake(str(tmp_path / "lake"))
    part, old_frame = fixture_partitions()[0]
    old = lake.write(BARS_ASSET, part, old_frame)

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "lake")], stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the child never reached the middle of its write"
        signal_line = child.stdout.readline().split()
        assert signal_line[0] == "HALF", signal_line
        new_size = int(signal_line[1])
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The kill really happened mid-partition: half the new file lies in a temporary file.
    folder = lake.partition_dir(BARS_ASSET, part)
    leftovers = [p for p in folder.iterdir() if p.name != PART_FILE]
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")
    assert 0 < leftovers[0].stat().st_size == new_size // 2

    # The old partition is whole, and nothing reads the leftover.
    assert lake.file_sha256(BARS_ASSET, part) == old.sha256
    assert lake.read(BARS_ASSET, part).equals(old_frame)
    assert lake.partitions(BARS_ASSET) == [part]
    assert lake.read_many(BARS_ASSET, [part]).height == old_frame.height

    # And the next write replaces the partition as if nothing had happened.
    newer = old_frame.head(10)
    lake.write(BARS_ASSET, part, newer)
    assert lake.read(BARS_ASSET, part).equals(newer)
    assert [p.name for p in folder.iterdir() if p.name == PART_FILE] == [PART_FILE]
