"""``quant-assets audit``: prove stored partitions clean after the fact (issue: feature matrix)."""

from __future__ import annotations

import click


@click.command(help="Audit stored partitions with the same checks the assets run.")
@click.option("--asset", required=True)
def audit(asset: str) -> None:
    raise click.ClickException(f"no audit is defined for {asset!r} yet")
