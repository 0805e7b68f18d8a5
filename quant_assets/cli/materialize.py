"""``quant-assets materialize``: a partition range of some assets, where a bad partition costs
only itself and what is downstream of it (``quant_assets.runs.backfill``).

Ends with a summary: the outcome and exit status, what was published per asset, each
partition held back (quarantined, or not yet available) with why, and each downstream
partition skipped because of one. Exit 0: every partition published; 3 (partial): some were
held back, everything else published; 1: a run failed for another reason, or a refusal.
"""

from __future__ import annotations

import click

from quant_assets import settings
from quant_assets.instance import get_instance
from quant_assets.lake.store import ParquetLake
from quant_assets.runs import PartitionRange, ProgressLines, backfill


@click.command("materialize", help="Materialize assets for a partition range; a bad partition costs only itself (exit 0 ok, 3 partial, 1 failed).")
@click.option("--select", "selection", required=True, help="Assets, comma-separated, e.g. market_bars,feature_matrix,labels.")
@click.option(
    "--partition-range",
    "partition_range",
    required=True,
    help="FIRST...LAST as in `dagster asset materialize`, e.g. '2025-10-01|BTC-USDT...2025-10-31|SOL-USDT'.",
)
def materialize(selection: str, partition_range: str) -> None:
    # Imported here: building the definitions loads every asset, which other commands skip.
    from quant_assets.definitions import build_definitions

    universe = settings.universe()
    try:
        parts = PartitionRange.parse(partition_range).parts(universe)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    defs = build_definitions()
    known = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assets = [a.strip() for a in selection.split(",") if a.strip()]
    unknown = [a for a in assets if a not in known]
    if unknown or not assets:
        raise click.ClickException(f"--select: {', '.join(unknown) or 'nothing'} is not an asset here; assets: {', '.join(sorted(known))}")
    with get_instance() as instance:
        outcome = backfill(
            defs,
            assets,
            parts,
            universe,
            instance,
            ParquetLake(settings.home().lake),
            progress=ProgressLines(write=lambda line: click.echo(line, err=True)),
        )
    for line in outcome.lines():
        click.echo(line)
    click.get_current_context().exit(outcome.exit_code)
