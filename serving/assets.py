"""``trading_book``: each UTC day's positions and PnL per book, read from the ledger.

The trading ticks write the ledger; this asset is how the day shows up in Dagster beside the
data and the models: one partition per UTC day (today's holds the day so far), one row per
book (mode/strategy) with its equity at the open and close, PnL, positions at the close,
orders, fills, fees and halts by reason code (``serving.ledger.daily``). Ledger rows only: no
setting or key reaches the metadata. It refreshes shortly after each day closes (cron
condition) and can be materialised for any past day, which reads the same as it did then.
"""


from datetime import date

from dagster import AssetExecutionContext, AutomationCondition, MaterializeResult, MetadataValue, asset

from quant_assets.partitions import date_partitions
from serving.ledger import Ledger
from serving.ledger.daily import DayBook, day_books

BOOK_ASSET = "trading_book"


@asset(
    name=BOOK_ASSET,
    group_name="trading",
    kinds={"sqlalchemy"},
    partitions_def=date_partitions(),
    automation_condition=AutomationCondition.on_cron("20 0 * * *", "UTC"),
    description="Each UTC day's positions and PnL per trading book (paper, live, replays), read back from the "
                "ledger's fills, orders, equity marks and risk events.",  # fmt: skip
)
def trading_book(context: AssetExecutionContext) -> MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    ledger = Ledger.open()
    try:
        books = day_books(ledger, day)
    finally:
        ledger.close()
    return MaterializeResult(metadata=day_books_metadata(books))


def day_books_metadata(books: list[DayBook]) -> dict:
    rows = [b.as_dict() for b in books]
    metadata = {
        "books": len(books),
        "day_books": MetadataValue.json(rows),
        "summary": MetadataValue.md(_table(books)),
    }
    for b in books:  # one number per book: plotted across partitions in the UI
        metadata[f"pnl/{b.mode}/{b.strategy}"] = float(b.pnl)
    return metadata


def _table(books: list[DayBook]) -> str:
    if not books:
        return "No book in the ledger."
    lines = ["| book | equity open | equity close | PnL | orders | fills | positions | halts |", "|---|---|---|---|---|---|---|---|"]
    for b in books:
        positions = ", ".join(f"{s} {q:g}" for s, q in b.positions.items()) or "flat"
        halts = ", ".join(f"{c} x{n}" for c, n in b.halts.items()) or "none"
        lines.append(f"| {b.mode}/{b.strategy} | {b.equity_open:,.2f} | {b.equity_close:,.2f} | {b.pnl:+,.2f} | {b.orders} | {b.fills} | {positions} | {halts} |")
    return "\n".join(lines)
