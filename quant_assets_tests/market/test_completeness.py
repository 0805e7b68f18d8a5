"""quality.completeness over many partitions at once: gaps named by bar, today counted to the
last closed bar, a listing day from its first bar, a day before listing not a gap."""

from datetime import date, datetime, timedelta, timezone

import polars as pl

from quant_assets.market.quality import completeness
from quant_assets.partitions import DaySymbol

UTC = timezone.utc
D1, D2 = date(2025, 10, 6), date(2025, 10, 7)


def _bars(symbol: str, day: date, skip=(), first=0, last=288) -> list[tuple[str, datetime]]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [(symbol, start + timedelta(minutes=5 * k)) for k in range(first, last) if k not in skip]


def test_gaps_today_listing_and_not_yet_listed_in_one_pass():
    rows = (
        _bars("BTC-USDT", D1, skip={12, 13})  # two bars missing: 01:00 and 01:05
        + _bars("BTC-USDT", D2, last=150)  # today, 12:33: bars to 12:25 closed (the 12:25 bar is still open)
        + _bars("NEW-USDT", D2, first=100)  # listed on D2 at 08:20 (a recorded file may run past now)
        + _bars("BTC-USDT", D1, skip=range(288))  # nothing, keeps the frame's shape
        + [("BTC-USDT", datetime(2025, 10, 6, 2, 7, tzinfo=UTC))]  # off grid: not a bar of the grid
    )
    frame = pl.DataFrame(rows, schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC")}, orient="row")
    parts = [DaySymbol(D1, "BTC-USDT"), DaySymbol(D2, "BTC-USDT"), DaySymbol(D1, "NEW-USDT"), DaySymbol(D2, "NEW-USDT")]
    listed = {DaySymbol(D1, "NEW-USDT"): False, DaySymbol(D2, "NEW-USDT"): False}
    now = datetime(2025, 10, 7, 12, 33, tzinfo=UTC)
    gap, today, before, listing = completeness(frame, parts, now, listed)

    assert (gap.bars, gap.expected, gap.note) == (287, 288, "complete day")
    assert gap.missing == [datetime(2025, 10, 6, 1, 0, tzinfo=UTC), datetime(2025, 10, 6, 1, 5, tzinfo=UTC)]
    # the bar opened at 12:25 closes at 12:30 <= now; 12:30's is still forming
    assert (today.expected, today.note, today.missing) == (150, "today: bars closed so far", [])
    assert (before.bars, before.expected, before.note, before.ok) == (0, 0, "not listed yet", True)
    # from the first bar (08:20) to the last closed one (12:25): 50 expected, none missing
    assert (listing.bars, listing.expected, listing.note, listing.ok) == (188, 50, "listing day: from the first bar", True)


def test_a_gap_a_source_that_has_not_finished_today_and_days_past_its_end_are_told_apart():
    """Only bars missing before the source's last bar are a gap; a tail after it, and whole
    days after it (each of them, not only the first), are the source's end: not yet available."""
    from quant_assets.market.quality import GAP, NOT_FINISHED, PAST_END

    d0, d3 = date(2025, 10, 4), date(2025, 10, 9)
    rows = (
        _bars("BTC-USDT", d0)
        + _bars("BTC-USDT", D1, skip={12}, last=216)  # a hole at 01:00, then the source stops at 18:00
        + _bars("ETH-USDT", d3, last=100)  # today, 12:33: the source delivered up to 08:15 only
        + _bars("ETH-USDT", d3 - timedelta(days=1))
    )
    frame = pl.DataFrame(rows, schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC")}, orient="row")
    after = [DaySymbol(D1 + timedelta(days=k), "BTC-USDT") for k in (1, 2)]  # empty days after the end
    parts = [DaySymbol(d0, "BTC-USDT"), DaySymbol(D1, "BTC-USDT"), *after, DaySymbol(d3, "ETH-USDT")]
    listed = {part: False for part in after}  # the day before each had no bars: it still is no listing day
    now = datetime(2025, 10, 9, 12, 33, tzinfo=UTC)
    full, gap, *past, today = completeness(frame, parts, now, listed)

    assert full.ok and full.kind is None
    assert gap.kind == GAP and gap.missing[0] == datetime(2025, 10, 6, 1, 0, tzinfo=UTC)  # the hole decides
    assert gap.reason == f"{len(gap.missing)} bars missing, first 2025-10-06 01:00:00+00:00"
    for day in past:
        assert day.kind == PAST_END and len(day.missing) == 288
        assert day.reason == "source ends at 2025-10-06 18:00 UTC: 288 bars of the day after its end"
    assert today.kind == NOT_FINISHED and today.source_end == datetime(2025, 10, 9, 8, 20, tzinfo=UTC)
    assert today.reason.startswith("source has not finished the day yet: it ends at 2025-10-09 08:20 UTC, 50 closed bars")

    # A source known to have bars after the run (a later published day): its tail is a gap.
    (tail,) = completeness(frame, [DaySymbol(D1, "BTC-USDT")], now, {}, frozenset({"BTC-USDT"}))
    assert tail.kind == GAP
