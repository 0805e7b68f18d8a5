"""``trading_book``: each UTC day's positions and PnL per book, read from the ledger.

The trading ticks write the ledger; this asset is how the day shows up in Dagster beside the
data and the models: one partition per UTC day (today's holds the day so far), one row per
book (mode/strategy) with its equity at the open and close, PnL, positions at the close,
orders, fills, fees and halts by reason code (``serving.ledger.daily``). Ledger rows only: no
setting or key reaches the metadata. It refreshes shortly after each day closes (cron
condition) and can be materialized for any past day, which reads the same as it did then.

Its check ``paper_tracks_reference`` (warn, non-blocking: the day's book is recorded either
way) compares each paper book's PnL for the day with the reference strategy's on the same
decisions (``serving.parity``) and fails with the figures when the gap leaves the bound.
"""

from datetime import date

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from quant_assets import settings
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import date_partitions
from serving.ledger import Ledger
from serving.ledger.daily import DayBook, day_books
from serving.parity import DayParity, paper_parity
from serving.settings import risk_limits, serving_settings

BOOK_ASSET = "trading_book"
PAPER_CHECK = "paper_tracks_reference"


@asset(
    name=BOOK_ASSET,
    group_name="trading",
    kinds={"sqlalchemy"},
    partitions_def=date_partitions(),
    automation_condition=AutomationCondition.on_cron("20 0 * * *", "UTC"),
    # the digest of the source that computes it (serving sits beside, not on, the assets' glue)
    code_version=settings.source_digest(settings.REPO_ROOT, ("serving/assets.py", "serving/ledger", "serving/parity.py")),
    description="Each UTC day's positions and PnL per trading book (paper, live, replays), read back from the "
    "ledger's fills, orders, equity marks and risk events.",  # fmt: skip
    check_specs=[
        AssetCheckSpec(
            PAPER_CHECK,
            asset=BOOK_ASSET,
            blocking=False,
            description="Each paper book's PnL for the day against the reference strategy's on the same "
            "decisions, within the replay-parity bound (serving.parity); warns with the figures.",
        )
    ],  # fmt: skip
)
def trading_book(context: AssetExecutionContext) -> MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    ledger = Ledger.open()
    try:
        books = day_books(ledger, day)
        parity = paper_parity(ledger, ParquetLake(settings.home().lake), day, serving_settings(), risk_limits())
    finally:
        ledger.close()
    return MaterializeResult(metadata=day_books_metadata(books), check_results=[paper_check(parity)])


def paper_check(parity: list[DayParity]) -> AssetCheckResult:
    """Passes when every paper book that ticked that day is within its bound; a book that could
    not be compared (a missing mark or bar) fails too: the day's paper record is incomplete."""
    failing = [p for p in parity if not p.within]
    lines = [p.line() for p in (failing or parity)] or ["no paper book ticked that day (or the day is not over)"]
    return AssetCheckResult(
        check_name=PAPER_CHECK,
        passed=not failing,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(lines),
        metadata={"books": MetadataValue.json([p.as_dict() for p in parity])},
    )


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
        lines.append(
            f"| {b.mode}/{b.strategy} | {b.equity_open:,.2f} | {b.equity_close:,.2f} | {b.pnl:+,.2f} "
            f"| {b.orders} | {b.fills} | {positions} | {halts} |"
        )
    return "\n".join(lines)
