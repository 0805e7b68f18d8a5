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
