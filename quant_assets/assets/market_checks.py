"""Blocking quality checks on market_bars: a partition that fails one is held back, and so is
everything downstream of that partition.

All six are evaluated on one read of the run's staged bars as the asset's step ends, which
publishes the partitions that pass every check and quarantines the rest; the audit op reports
the results (``quant_assets.assets.checks``).
"""

from datetime import timedelta

import polars as pl

from quant_assets.assets.checks import (
    AuditCheck,
    Batch,
    Verdict,
    audit_checks,
    row_rule,
    schema_verdict,
)
from quant_assets.assets.metadata import preview
from quant_assets.market import quality
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol
from quant_assets.timegrid import utc_now


def bars_complete(batch: Batch) -> Verdict:
    """Gaps fail; a day the source has not finished or whose data it does not have yet (past
    its end) is not a data error: it is held back as not yet available, with its reason, and
    the next scheduled run tries it again."""
    bars = batch.rows()
    results = quality.completeness(bars, batch.parts, utc_now(), _listed_before(batch.parts, bars, batch), _continues_after(batch))
    gaps = [r for r in results if r.is_gap]
    pending = [r for r in results if not r.ok and not r.is_gap]
    missing = pl.DataFrame(
        [{"symbol": r.partition.symbol, "ts": ts, "problem": "missing bar"} for r in gaps for ts in r.missing],
        schema={"symbol": pl.String, "ts": pl.Datetime("us", "UTC"), "problem": pl.String},
    )
    notes = sorted({f"{r.partition}: {r.note}" for r in results if r.note != "complete day"})
    waiting = f"; {len(pending)} not yet available ({pending[0].partition}: {pending[0].reason})" if pending else ""
    return Verdict(
        passed=not gaps,
        description=("complete" if not gaps else f"{len(gaps)} partitions with gaps, {missing.height} bars missing") + waiting,
        metadata={
            "partitions_checked": len(batch.parts),
            "bars": bars.height,
            "bars_missing": missing.height,
            "missing_preview": preview(missing, rows=20),
            "partial_days": preview(pl.DataFrame({"partial_day": notes}, schema={"partial_day": pl.String}), rows=20),
            "not_yet_available": "\n".join(f"{r.partition}: {r.reason}" for r in pending[:20]) or "none",
        },
        failing={r.partition: r.reason for r in gaps},
        pending={r.partition: r.reason for r in pending},
    )


def _continues_after(batch: Batch) -> frozenset[str]:
    """Symbols whose day after the run's last day is published with bars: the source has data
    after the run, so bars missing at the end of the run's days are a gap, not its end."""
    last: dict[str, DaySymbol] = {}
    for part in batch.parts:
        if part.symbol not in last or part.day > last[part.symbol].day:
            last[part.symbol] = part
    later = {symbol: DaySymbol(part.day + timedelta(days=1), symbol) for symbol, part in last.items()}
    return frozenset(
        symbol for symbol, part in later.items() if batch.store.exists(BARS_ASSET, part) and batch.store.read(BARS_ASSET, part).height > 0
    )


def _listed_before(parts: list[DaySymbol], bars: pl.DataFrame, batch: Batch) -> dict[DaySymbol, bool]:
    """Did the symbol have bars on the day before each partition?

    Known from this run's own frame when the previous day is in the run, else from the
    published previous partition. When the previous day was never stored, the history is
    unknown and the day is counted from its first bar, like a listing day (its metadata
    says so): the first stored day of a symbol listed mid-period must not read as a gap.
    """
    with_bars = {(day, symbol) for day, symbol in bars.select(pl.col("ts").dt.date().alias("day"), "symbol").unique().iter_rows()}
    in_run = {(p.day, p.symbol) for p in parts}
    listed = {}
    for part in parts:
        previous = DaySymbol(part.day - timedelta(days=1), part.symbol)
        key = (previous.day, previous.symbol)
        if key in in_run:
            listed[part] = key in with_bars
        elif batch.store.exists(BARS_ASSET, previous):
            listed[part] = batch.store.read(BARS_ASSET, previous).height > 0
        else:
            listed[part] = False
    return listed


CHECKS = {
    "bars_schema": AuditCheck("Columns and dtypes match the bar schema.", schema_verdict),
    "bars_unique": AuditCheck("No two bars share (symbol, ts).", row_rule(quality.duplicate_bars, "unique (symbol, ts)")),
    "bars_sorted": AuditCheck("Bars are stored in increasing ts order.", row_rule(quality.unsorted_bars, "sorted by ts")),
    "bars_on_grid": AuditCheck("Every ts is on the 5m grid and available_at = ts + 5m.", row_rule(quality.off_grid_bars, "on the 5m grid")),
    "bars_ohlc_sane": AuditCheck("low <= open, close <= high; prices > 0; volume >= 0; no null or NaN.", row_rule(quality.insane_ohlc, "OHLC sane")),
    "bars_complete": AuditCheck(
        "288 bars a day; today only the bars closed so far; on a listing day only from the "
        "first bar. Bars missing inside the data are a gap (quarantined); bars after the "
        "source's last one are not yet available (held back, retried by the next run).",
        bars_complete,
    ),
}


market_bars_checks = audit_checks(
    BARS_ASSET,
    CHECKS,
    description="The market_bars checks on one read of the run's staged bars; publishes the partitions that pass.",
)
