"""``quant-assets audit``: prove stored partitions clean after the fact.

Runs the feature_matrix checks (``quant_assets.features.audit``, the same code as the
blocking asset checks) on partitions already in the lake, without re-materializing
anything, and prints one line per partition (and each violation under it).

Exit codes: 0 clean; 1 a violation; 2 a usage error or nothing to audit; 3 (only with
``--strict``) no violation, but a partition's inputs changed since it was built, so it could
not be recomputed from them.
"""

from __future__ import annotations

import json
import sys
import time

import click

from quant_assets import settings
from quant_assets.cli.bundle import _split, _symbol_key
from quant_assets.features import contract
from quant_assets.features.audit import CHECKS, DEFAULT_SAMPLE, audit_lake, draw_seed
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between
from quant_assets.timegrid import utc_now

AUDITABLE = (contract.FEATURES_ASSET,)
EXIT_VIOLATIONS = 1
EXIT_INPUTS_CHANGED = 3


class NothingToAudit(click.ClickException):
    """One line, exit 2: the request is well formed but selects no stored partition."""

    exit_code = 2


def _symbols(values: tuple[str, ...]) -> list[str]:
    """Partition keys from ``--symbols`` (BTC-USDT or BTC/USDT, repeated or comma-separated),
    as ``bundle export`` reads them."""
    try:
        return sorted({_symbol_key(s) for s in _split(values)})
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--symbols") from None


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


@click.command(
    help="Audit stored partitions with the same checks the assets run. Exit 0 clean, 1 on a violation, "
    "2 on a usage error or nothing to audit, 3 with --strict when a partition's inputs changed since its build."
)
@click.option("--asset", required=True, help=f"asset to audit ({', '.join(AUDITABLE)})")
@click.option("--start", "start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="first day, YYYY-MM-DD")
@click.option("--end", "end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="last day (inclusive)")
@click.option(
    "--symbols",
    multiple=True,
    help="symbols (BTC-USDT or BTC/USDT), repeated or comma-separated; default: every symbol the lake holds for the asset in the range",
)
@click.option(
    "--sample",
    default=str(DEFAULT_SAMPLE),
    show_default=True,
    help="random rows per partition recomputed from truncated inputs besides the first and last; 'all' for every row",
)
@click.option("--seed", default=None, type=int, help="seed of the random rows (printed); default: a fresh one per audit")
@click.option("--strict", is_flag=True, help="exit 3 when a partition's inputs changed since its build (default: report only)")
@click.option("--lake", "lake_root", default=None, help="lake root (default: $QUANT_ASSETS_HOME/lake)")
@click.option("--json-report", type=click.Path(dir_okay=False), default=None, help="also write the full report as JSON")
@click.option("--quiet", is_flag=True, help="print only failing partitions and the summary")
def audit(asset, start, end, symbols, sample, seed, strict, lake_root, json_report, quiet) -> None:
    if asset not in AUDITABLE:
        raise click.BadParameter(f"no audit is defined for {asset!r}; auditable: {', '.join(AUDITABLE)}", param_hint="--asset")
    first, last = start.date(), end.date()
    if last < first:
        raise click.BadParameter(f"{last} is before --start {first}", param_hint="--end")
    sample = _sample(sample)
    wanted = _symbols(symbols)
    store = ParquetLake(lake_root or settings.home().lake)
    stored = {p for p in store.partitions(asset) if first <= p.day <= last and (not wanted or p.symbol in wanted)}
    if not stored:
        which = f" for {', '.join(wanted)}" if wanted else ""
        held = [p for p in store.quarantined(asset) if first <= p.day <= last and (not wanted or p.symbol in wanted)]
        why = f"; {len(held)} are quarantined, first {held[0]}: {store.quarantine_note(asset, held[0])}" if held else ""
        raise NothingToAudit(f"nothing to audit: the lake at {store.root} holds no {asset} partitions in {first}..{last}{which}{why}")
    wanted = wanted or sorted({p.symbol for p in stored})
    parts = [DaySymbol(d, s) for d in days_between(first, last) for s in wanted]
    seed = draw_seed() if seed is None else seed
    click.echo(f"audit {asset} {first}..{last}: seed {seed} (rerun with --seed {seed} to recompute the same rows)")

    began = time.perf_counter()
    reports, rows, recomputed, failing, changed = [], 0, 0, 0, 0
    totals = {c: 0 for c in CHECKS}
    for report in audit_lake(store, parts, sample=sample, seed=seed, now=utc_now()):
        reports.append(report)
        rows += report.rows
        recomputed += report.recomputed
        for check, n in report.counts.items():
            totals[check] += n
        failing += not report.ok
        changed += bool(report.inputs_changed)
        if quiet and report.status == "OK":
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
        "partitions_inputs_changed": changed,
        "seed": seed,
        "seconds": round(elapsed, 3),
        "rows_per_s": round(rows / elapsed, 1) if elapsed > 0 else None,
        "contract": f"{contract.SCHEMA_VERSION}/{contract.CONTRACT_HASH[:12]}",
        "sample": sample,
    }
    click.echo(
        f"audit {asset} {first}..{last}: {len(parts)} partitions, {rows} rows checked, {recomputed} recomputed, "
        f"{violations} violations in {failing} partitions, {changed} with inputs changed since build "
        f"({summary['rows_per_s']} rows/s)"
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
                            "status": r.status,
                            "inputs_changed": r.inputs_changed,
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
        sys.exit(EXIT_VIOLATIONS)
    if changed and strict:
        sys.exit(EXIT_INPUTS_CHANGED)
