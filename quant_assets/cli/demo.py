"""``quant-assets demo`` and ``quant-assets dev`` (filled in with the sample bundle)."""

from __future__ import annotations

import click


@click.command(help="Import the shipped sample bundle and materialise the whole graph.")
def demo() -> None:
    raise click.ClickException("not ready yet")


@click.command(help="Start the Dagster UI on this project's instance.")
def dev() -> None:
    raise click.ClickException("not ready yet")
