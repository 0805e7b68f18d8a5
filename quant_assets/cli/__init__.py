"""The ``quant-assets`` command: bundles, audits, the demo and the Dagster UI."""

from __future__ import annotations

import warnings

import click
from dagster import BetaWarning, PreviewWarning

# backfill_policy and partitioned checks are marked beta/preview; a CLI user cannot act on that.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)

from quant_assets import settings
from quant_assets.cli.audit import audit
from quant_assets.cli.bundle import bundle
from quant_assets.cli.demo import demo, dev
from quant_assets.cli.mlflow_ui import mlflow_ui
from quant_assets.cli.sql import sql


class _Commands(click.Group):
    """Every command reads settings; a bad one is one line naming the variable, exit 1."""

    def invoke(self, ctx: click.Context):
        with settings.exit_on_settings_error():
            return super().invoke(ctx)


@click.group(cls=_Commands, help="quant_assets: point-in-time crypto data assets on Dagster.")
def main() -> None:
    pass


main.add_command(bundle)
main.add_command(audit)
main.add_command(demo)
main.add_command(dev)
main.add_command(sql)
main.add_command(mlflow_ui)
