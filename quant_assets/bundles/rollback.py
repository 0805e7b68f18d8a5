"""An import changes the published lake all or nothing.

Each asset publishes its partitions only once its own blocking checks pass (write-audit-
publish, ``quant_assets.lake.publish``), but an import materializes several assets in several
runs: market_bars may pass and publish while derivatives then fails. So before an import
materializes, the lake files its runs may replace are set aside, and put back byte for byte
(or removed, where there was none) when a run fails or a blocking check fails: a failed
import leaves the published lake exactly as it found it.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from quant_assets.lake.store import ParquetLake, atomic_write_bytes
from quant_assets.partitions import DaySymbol


class LakeSnapshot:
    """The lake files of some partitions as they were, kept under ``spool``."""

    def __init__(self, lake: ParquetLake, keys: Iterable[tuple[str, DaySymbol]], spool: Path):
        self._lake, self._spool = lake, spool
        self._kept: dict[tuple[str, DaySymbol], Path | None] = {}
        spool.mkdir(parents=True)
        for asset, part in keys:
            copy = None
            if lake.exists(asset, part):
                copy = spool / f"{len(self._kept)}.parquet"
                copy.write_bytes(lake.partition_path(asset, part).read_bytes())
            self._kept[(asset, part)] = copy

    def restore(self) -> None:
        for (asset, part), copy in self._kept.items():
            target = self._lake.partition_path(asset, part)
            if copy is not None:
                atomic_write_bytes(target, copy.read_bytes())
            elif target.exists():
                target.unlink()
                _remove_empty_folders(self._lake, asset, part)


@contextmanager
def kept_aside(lake: ParquetLake, keys: Iterable[tuple[str, DaySymbol]], spool: Path) -> Iterator[LakeSnapshot]:
    """Set the files aside for the block; restore them if it raises; forget them after."""
    snapshot = LakeSnapshot(lake, keys, spool)
    try:
        yield snapshot
    except BaseException:
        snapshot.restore()
        raise
    finally:
        shutil.rmtree(spool, ignore_errors=True)


def _remove_empty_folders(lake: ParquetLake, asset: str, part: DaySymbol) -> None:
    """The partition's folders that the failed import created, if nothing else is in them."""
    folder = lake.partition_dir(asset, part)
    for _ in range(3):  # symbol=..., date=..., the asset's own folder
        if not folder.exists() or any(folder.iterdir()):
            return
        folder.rmdir()
        folder = folder.parent
