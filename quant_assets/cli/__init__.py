"""The ``quant-assets`` command: bundles, audits, evaluations, the demo, the Dagster and MLflow UIs, Celery workers and the trading ledger."""

from __future__ import annotations

import warnings

import click
from dagster import BetaWarning, PreviewWarning

from quant_assets import settings
from quant_assets.cli.audit import audit
from quant_assets.cli.bundle import bundle
from quant_assets.cli.demo import demo, dev
from quant_assets.cli.evaluate import evaluate
from quant_assets.cli.materialize import materialize
from quant_assets.cli.mlflow_ui import mlflow_ui
from quant_assets.cli.model import model
from quant_assets.cli.sql import sql
from quant_assets.cli.study import study
from quant_assets.cli.worker import worker
from serving.cli import orders, paper, positions, trading

# backfill_policy and partitioned checks are marked beta/preview; a CLI user cannot act on that.
# The commands import the code location when they run (nothing above defines an asset), so the
# filters are in place before any asset is defined.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)


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
main.add_command(evaluate)
main.add_command(materialize)
main.add_command(demo)
main.add_command(study)
main.add_command(dev)
main.add_command(sql)
main.add_command(mlflow_ui)
main.add_command(model)
main.add_command(worker)
# The trading half lives in the top-level serving package; its commands join the one CLI.
main.add_command(trading)
main.add_command(positions)
main.add_command(orders)
main.add_command(paper)
