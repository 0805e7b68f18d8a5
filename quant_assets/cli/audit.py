"""``quant-assets audit``: prove stored partitions clean after the fact.

Runs the feature_matrix checks (``quant_assets.features.audit``, the same code as the
blocking asset checks) on partitions already in the lake, without re-materialising
anything, prints one line per partition (and each violation under it) and exits 1 if any
check found a violation.
"""

from __future__ import annotations

import json
import sys
import time

import click

from quant_assets import settings
from quant_assets.features import contract
from quant_assets.features.audit import CHECKS, DEFAULT_SAMPLE, audit_lake
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.timegrid import utc_now

AUDITABLE = (contract.FEATURES_ASSET,)


def _sample(value: str):
    if value == "all":
        return "all"
    try:
        n = int(value)
    except ValueError as exc:
        raise click.BadParameter("an integer >= 0 or 'all'") from exc
    if n < 0:
        raise click.BadParameter("an integer >= 0 or 'all'")
    return n


@click.command(help="Audit stored partitions with the same checks the assets run; exit 1 on any violation.")
@click.option("--asset", required=True, help=f"asset to audit ({', '.join(AUDITABLE)})")
@click.option("--start", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="first day, YYYY-MM-DD")
@click.option("--end", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="last day (inclusive)")
@click.option(
    "--symbols",
    multiple=True,
    help="symbol keys (repeat or comma-separate); default: every symbol the lake holds for the asset in the range",
)
@click.option(
    "--sample",
    default=str(DEFAULT_SAMPLE),
    show_default=True,
    help="random rows per partition recomputed from truncated inputs besides the first and last; 'all' for every row",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--lake", "lake_root", default=None, help="lake root (default: $QUANT_ASSETS_HOME/lake)")
@click.option("--json-report", type=click.Path(dir_okay=False), default=None, help="also write the full report as JSON")
@click.option("--quiet", is_flag=True, help="print only failing partitions and the summary")
def audit(asset, start, end, symbols, sample, seed, lake_root, json_report, quiet) -> None:
    if asset not in AUDITABLE:
        raise click.ClickException(f"no audit is defined for {asset!r}; auditable: {', '.join(AUDITABLE)}")
    first, last = start.date(), end.date()
    if last < first:
        raise click.ClickException("--end is before --start")
    sample = _sample(sample)
    store = ParquetLake(lake_root or settings.home().lake)
    wanted = sorted({s.strip() for group in symbols for s in group.split(",") if s.strip()})
    if not wanted:
        wanted = sorted({p.symbol for p in store.partitions(asset) if first <= p.day <= last})
        if not wanted:
            raise click.ClickException(f"the lake at {store.root} holds no {asset} partitions in {first}..{last}")
    parts = [DaySymbol(d, s) for d in days_between(first, last) for s in wanted]

    began = time.perf_counter()
    reports, rows, recomputed, failing = [], 0, 0, 0
    totals = {c: 0 for c in CHECKS}
    for report in audit_lake(store, parts, sample=sample, seed=seed, now=utc_now()):
        reports.append(report)
        rows += report.rows
        recomputed += report.recomputed
        for check, n in report.counts.items():
            totals[check] += n
        if not report.ok:
            failing += 1
        if quiet and report.ok:
            continue
        click.echo(report.line())
        for violation in report.violations:
            click.echo("    " + violation.line())
    elapsed = time.perf_counter() - began
    violations = sum(totals.values())
    summary = {
        "asset": asset,
        "partitions": len(parts),
        "failing_partitions": failing,
        "rows_checked": rows,
        "rows_recomputed": recomputed,
        "violations": violations,
        "violations_by_check": totals,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1) if elapsed > 0 else None,
        "contract": f"{contract.SCHEMA_VERSION}/{contract.CONTRACT_HASH[:12]}",
        "sample": sample,
    }
    click.echo(
        f"audit {asset} {first}..{last}: {len(parts)} partitions, {rows} rows checked, {recomputed} recomputed, "
        f"{violations} violations in {failing} partitions ({summary['rows_per_s']} rows/s)"
    )
    if json_report:
        with open(json_report, "w") as handle:
            json.dump(
                {
                    **summary,
                    "partitions_report": [
                        {
                            "partition": str(r.partition),
                            "rows": r.rows,
                            "recomputed": r.recomputed,
                            "counts": r.counts,
                            "notes": r.notes,
                            "violations": [v.as_dict() for v in r.violations],
                        }
                        for r in reports
                    ],
                },
                handle,
                indent=1,
            )
    if violations:
        sys.exit(1)
