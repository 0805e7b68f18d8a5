"""``quant-assets mlflow``: the MLflow UI on this project's tracking and registry store."""

from __future__ import annotations

import os
import sys

import click


@click.command(name="mlflow", help="Start the MLflow UI on this project's store (127.0.0.1, one worker).")
@click.option("--port", default=5000, show_default=True)
def mlflow_ui(port: int) -> None:
    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import Tracking

    store = MlflowStore.from_env()
    if store.tracking_uri.startswith(("http://", "https://")):
        raise click.ClickException(f"QUANT_ASSETS_MLFLOW_TRACKING_URI points at a running server ({store.tracking_uri}); open that instead")
    Tracking(store)  # the store's tables and the experiment exist before the server reads them
    click.echo(f"MLflow UI on http://127.0.0.1:{port}  (store {store.tracking_uri}, artifacts {store.artifact_root})")
    # The running interpreter's own MLflow: the venv need not be on PATH.
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store.tracking_uri,
               "--default-artifact-root", store.artifact_root, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    os.execv(sys.executable, command)
