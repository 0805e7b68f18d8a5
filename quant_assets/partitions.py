"""The two partition dimensions every asset shares: UTC day x symbol.

Dagster allows exactly two dimensions in a ``MultiPartitionsDefinition``. Keys look like
``2025-10-06|BTC-USDT`` (dimensions are ordered by name, so ``date`` comes first), which
makes a partition *range* from ``(d0, first symbol)`` to ``(d1, last symbol)`` cover every
symbol of every day in ``d0..d1``: that is what a single-run backfill hands an asset.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import polars as pl
from dagster import (
    AllPartitionMapping,
    BetaWarning,
    DailyPartitionsDefinition,
    DimensionPartitionMapping,
    IdentityPartitionMapping,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
)

from quant_assets import settings

DATE_DIM = "date"
SYMBOL_DIM = "symbol"


def date_partitions() -> DailyPartitionsDefinition:
    # end_offset=1 exposes today's partition: it holds only the bars closed so far.
    return DailyPartitionsDefinition(start_date=settings.start_date().isoformat(), timezone="UTC", end_offset=1)


def symbol_partitions() -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(settings.universe())


class DailySymbolPartitions(MultiPartitionsDefinition):
    """``date`` x ``symbol``, with partition ranges memoised.

    Dagster expands the run's partition range into keys every time an asset attaches
    metadata to one partition (``context.add_asset_metadata(partition_key=...)``). For a
    backfill of thousands of partitions that expansion, repeated per partition, is
    quadratic; the keys of a range never change, so they are computed once.
    """

    def __init__(self):
        super().__init__({DATE_DIM: date_partitions(), SYMBOL_DIM: symbol_partitions()})
        self._range_keys: dict[tuple[str, str], list] = {}

    def get_partition_keys_in_range(self, partition_key_range, dynamic_partitions_store=None):
        cache_key = (str(partition_key_range.start), str(partition_key_range.end))
        if cache_key not in self._range_keys:
            self._range_keys[cache_key] = _KeyList(super().get_partition_keys_in_range(partition_key_range, dynamic_partitions_store))
        return self._range_keys[cache_key]


class _KeyList(list):
    """A list of partition keys with set-speed membership tests."""

    def __init__(self, keys):
        super().__init__(keys)
        self._members = frozenset(keys)

    def __contains__(self, key) -> bool:
        return key in self._members


def daily_symbol_partitions() -> DailySymbolPartitions:
    return DailySymbolPartitions()


@dataclass(frozen=True, order=True)
class DaySymbol:
    """One lake partition: a UTC day of one symbol."""

    day: date
    symbol: str

    @property
    def start(self) -> datetime:
        return datetime(self.day.year, self.day.month, self.day.day, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)

    @property
    def dagster_key(self) -> MultiPartitionKey:
        return MultiPartitionKey({DATE_DIM: self.day.isoformat(), SYMBOL_DIM: self.symbol})

    def __str__(self) -> str:
        return f"{self.day.isoformat()}|{self.symbol}"

    @classmethod
    def parse(cls, key: str | MultiPartitionKey) -> "DaySymbol":
        if isinstance(key, MultiPartitionKey):
            dims = key.keys_by_dimension
            return cls(date.fromisoformat(dims[DATE_DIM]), dims[SYMBOL_DIM])
        day, _, symbol = str(key).partition("|")
        return cls(date.fromisoformat(day), symbol)


def parse_keys(keys) -> list[DaySymbol]:
    return sorted(DaySymbol.parse(k) for k in keys)


def days_between(start: date, end: date) -> list[date]:
    """Inclusive list of days."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def split_by_partition(frame: pl.DataFrame, parts: list[DaySymbol], day_column: str, empty: pl.DataFrame) -> list[tuple[DaySymbol, pl.DataFrame]]:
    """Cut a frame with ``symbol`` into the requested partitions, by ``day_column``'s UTC day.

    Every requested partition gets a frame (``empty`` when it has no rows) without ``symbol``;
    rows outside the requested partitions are dropped, and rows keep their order.
    """
    keyed = frame.with_columns(_day=pl.col(day_column).dt.date())
    groups = {(day, symbol): group.drop("_day", "symbol") for (day, symbol), group in keyed.group_by(["_day", "symbol"], maintain_order=True)}
    return [(part, groups.get((part.day, part.symbol), empty)) for part in parts]


def day_lookback_mapping(days: int, ahead: int = 0) -> MultiPartitionMapping:
    """Day D of a symbol reads upstream days D-days..D+ahead of the same symbol.

    Days before the first partition (or after the last) do not exist; they are dropped,
    not an error.
    """
    return day_window_mapping(-days, ahead)


def day_window_mapping(start_offset: int, end_offset: int, every_symbol: bool = False) -> MultiPartitionMapping:
    """Day D of a symbol reads upstream days D+start_offset..D+end_offset of the same symbol
    (``every_symbol``: of every symbol of the universe, for a cross-section such as the pooled family's).

    Days outside the partitions that exist (before the first day, or not yet come) are
    dropped, not an error: a label of day D may look ahead to D+7, which exists only later.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # both are stable in use since Dagster 1.6
        return MultiPartitionMapping(
            {
                DATE_DIM: DimensionPartitionMapping(
                    DATE_DIM,
                    TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset, allow_nonexistent_upstream_partitions=True),
                ),
                SYMBOL_DIM: DimensionPartitionMapping(SYMBOL_DIM, AllPartitionMapping() if every_symbol else IdentityPartitionMapping()),
            }
        )
