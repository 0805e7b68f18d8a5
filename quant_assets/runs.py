"""Launch materialisations from Python the way a backfill would: few runs, many partitions.

A run covers a partition *range*; for ``date`` x ``symbol`` a range is a rectangle (days
d0..d1 x symbols s0..s1 in universe order). Any set of partitions is cut into a few such
rectangles, one run each, instead of one run per partition.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from dagster import AssetKey, DagsterInstance, Definitions, ExecuteInProcessResult
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from quant_assets.partitions import DaySymbol


@dataclass(frozen=True)
class Rectangle:
    first: DaySymbol
    last: DaySymbol

    @property
    def tags(self) -> dict[str, str]:
        return {
            ASSET_PARTITION_RANGE_START_TAG: str(self.first),
            ASSET_PARTITION_RANGE_END_TAG: str(self.last),
        }

    def __str__(self) -> str:
        return f"{self.first}...{self.last}"


def rectangles(parts: list[DaySymbol], universe: list[str]) -> list[Rectangle]:
    """Cover exactly ``parts`` with rectangles; each symbol's days must be contiguous runs."""
    order = {symbol: i for i, symbol in enumerate(universe)}
    unknown = sorted({p.symbol for p in parts} - set(order))
    if unknown:
        raise ValueError(f"symbols {unknown} are not in the configured universe {universe}")
    # Contiguous day spans per symbol, then symbols with the same span merged when adjacent.
    spans: dict[tuple, list[str]] = {}
    for symbol, group in groupby(sorted(parts, key=lambda p: (order[p.symbol], p.day)), key=lambda p: p.symbol):
        days = [p.day for p in group]
        start = days[0]
        for prev, day in zip(days, days[1:] + [None]):
            if day is None or (day - prev).days != 1:
                spans.setdefault((start, prev), []).append(symbol)
                start = day
    out = []
    for (d0, d1), symbols in sorted(spans.items()):
        block = [symbols[0]]
        for symbol in symbols[1:] + [None]:
            if symbol is not None and order[symbol] == order[block[-1]] + 1:
                block.append(symbol)
                continue
            out.append(Rectangle(DaySymbol(d0, block[0]), DaySymbol(d1, block[-1])))
            block = [symbol]
    return out


def materialize(
    defs: Definitions,
    assets: list[str],
    parts: list[DaySymbol],
    universe: list[str],
    instance: DagsterInstance,
    tags: dict[str, str] | None = None,
    log_level: str = "WARNING",
) -> list[ExecuteInProcessResult]:
    """Materialise ``assets`` (and their checks) for ``parts``, one run per rectangle."""
    job = defs.resolve_implicit_global_asset_job_def()
    # Dagster's console logger prints a DEBUG line per event; a CLI wants only problems.
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    selection = [AssetKey(a) for a in assets]
    results = []
    for rect in rectangles(parts, universe):
        results.append(
            job.execute_in_process(
                instance=instance,
                asset_selection=selection,
                run_config=quiet,
                tags={**rect.tags, **(tags or {})},
                raise_on_error=False,
            )
        )
    return results
