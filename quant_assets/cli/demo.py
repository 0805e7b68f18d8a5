"""``quant-assets demo`` (the README's main command) and ``quant-assets dev`` (the UI)."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path

import click

from quant_assets import settings
from quant_assets.instance import prepare_dagster_home
from quant_assets.runs import ProgressLines, materialize

SAMPLE_BUNDLE = settings.REPO_ROOT / "data" / "sample_bundle.tar.gz"


@click.command(help="Import the shipped sample bundle and materialise the whole graph.")
@click.option("--bundle", "archive", default=str(SAMPLE_BUNDLE), show_default=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model-days", default=28, show_default=True, help="multi_horizon_model for the bundle's last N days")
def demo(archive: str, model_days: int) -> None:
    from quant_assets.cli.bundle import import_bundle
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.models.record import MODELS_ASSET

    started = time.perf_counter()
    home = settings.home()
    click.echo(f"QUANT_ASSETS_HOME = {home.root}")
    # Both stages report progress on stderr as they go (runs.materialize), so minutes of
    # work are never minutes of silence.
    click.echo(f"[1/3] importing {Path(archive).name}: verify, land, materialise its assets ...")
    manifest = import_bundle(Path(archive))
    parts = sorted({f.partition for f in manifest.files})
    with get_instance() as instance:
        defs = build_definitions()
        rest = [key.to_user_string() for key in defs.resolve_all_asset_keys() if key.to_user_string() not in manifest.assets]
        data = sorted(a for a in rest if a != MODELS_ASSET)
        # Models train on every day before them, so they are fitted for the sample's last weeks only.
        last_day = max(p.day for p in parts)
        model_parts = [p for p in parts if p.day > last_day - timedelta(days=model_days)]
        for i, (assets, chosen) in enumerate(((data, parts), ([MODELS_ASSET], model_parts)), start=2):
            if not assets or not chosen:
                continue
            click.echo(
                f"[{i}/3] {time.perf_counter() - started:.0f}s in; materialising {', '.join(assets)} "
                f"for {len(chosen)} partitions ({len(assets) * len(chosen)} asset partitions) ..."
            )
            results = materialize(defs, assets, chosen, settings.universe(), instance, progress=ProgressLines(write=_echo_err))
            failed = [r.run_id for r in results if not r.success]
            if failed:
                raise click.ClickException(f"materialisation failed in runs {', '.join(failed)}; see the Dagster UI")
    click.echo(f"done in {time.perf_counter() - started:.0f}s.")
    click.echo(f"  lake:            {home.lake}")
    click.echo(f"  Dagster home:    {os.environ['DAGSTER_HOME']}")
    click.echo("  Dagster UI:      .venv/bin/quant-assets dev   (then open http://127.0.0.1:3000)")
    click.echo("  MLflow UI:       .venv/bin/quant-assets mlflow   (then open http://127.0.0.1:5000)")
    click.echo('  ad-hoc SQL:      .venv/bin/quant-assets sql "select symbol, count(*) from market_bars group by 1"')


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


@click.command(help="Start the Dagster UI and daemon on this project's instance.")
@click.option("--port", default=3000, show_default=True)
def dev(port: int) -> None:
    # Load the code location once here: a misconfigured setting stops with its one line now,
    # not as a failed code location inside the UI.
    import quant_assets.definitions  # noqa: F401

    prepare_dagster_home()
    workspace = settings.REPO_ROOT / "workspace.yaml"
    os.chdir(settings.REPO_ROOT)
    # `.venv/bin/quant-assets dev` runs without an activated venv, so `dagster` may not be on
    # PATH: start Dagster from this interpreter, whose environment has it (dagster dev starts
    # its webserver, daemon and code servers from sys.executable too).
    command = ["-m", "dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
    os.execv(sys.executable, [sys.executable, *command])
