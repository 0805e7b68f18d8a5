"""``runs.symbol_groups``: how a by-symbol step is cut over processes. Whole symbols per group
(a symbol's days stay in one run: oos_eval's book carries from day to day), contiguous in
universe order (each group stays one rectangle), every partition exactly once."""

from datetime import date, timedelta

from quant_assets.partitions import DaySymbol
from quant_assets.runs import partition_ranges, symbol_groups

UNIVERSE = [f"S{i}-USDT" for i in range(10)]


def _parts(symbols, days=7):
    return [DaySymbol(date(2025, 10, 1) + timedelta(days=d), s) for d in range(days) for s in symbols]


def test_ten_symbols_split_in_two_halves_each_one_rectangle():
    parts = _parts(UNIVERSE)
    groups = symbol_groups(parts, UNIVERSE, 2)
    assert [sorted({p.symbol for p in g}) for g in groups] == [UNIVERSE[:5], UNIVERSE[5:]]
    assert sorted(p for g in groups for p in g) == sorted(parts)
    assert [len(partition_ranges(g, UNIVERSE)) for g in groups] == [1, 1]


def test_groups_balance_partitions_not_symbols():
    # S0 holds as many partitions as the other three together: it is a group of its own
    parts = _parts(UNIVERSE[:1], days=21) + _parts(UNIVERSE[1:4], days=7)
    groups = symbol_groups(parts, UNIVERSE, 2)
    assert [sorted({p.symbol for p in g}) for g in groups] == [UNIVERSE[:1], UNIVERSE[1:4]]


def test_one_symbol_or_one_process_is_one_group():
    assert len(symbol_groups(_parts(UNIVERSE[:1]), UNIVERSE, 2)) == 1
    assert len(symbol_groups(_parts(UNIVERSE), UNIVERSE, 1)) == 1
    assert len(symbol_groups(_parts(UNIVERSE[:3]), UNIVERSE, 8)) == 3  # never more groups than symbols
