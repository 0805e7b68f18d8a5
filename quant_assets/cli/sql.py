"""``quant-assets sql``: ad-hoc DuckDB queries over the lake in place."""

from __future__ import annotations

import click

from quant_assets import settings


@click.command(help="Run a SQL query over the lake; every asset is a view, e.g. market_bars.")
@click.argument("query")
def sql(query: str) -> None:
    import duckdb

    from quant_assets.lake.duckdb_views import lake_views

    con = lake_views(settings.home().lake)
    try:
        click.echo(con.sql(query))
    except duckdb.Error as err:
        raise click.ClickException(" ".join(str(err).split())) from None
