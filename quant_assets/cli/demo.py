"""``quant-assets demo`` (the README's main command) and ``quant-assets dev`` (the UI)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from quant_assets import settings
from quant_assets.instance import prepare_dagster_home

SAMPLE_BUNDLE = settings.REPO_ROOT / "data" / "sample_bundle.tar.gz"


@click.command(help="Import the shipped sample bundle and materialise the whole graph.")
@click.option("--bundle", "archive", default=str(SAMPLE_BUNDLE), show_default=True, type=click.Path(exists=True, dir_okay=False))
def demo(archive: str) -> None:
    from quant_assets.bundles.coverage import downstream_steps, held_partitions
    from quant_assets.cli.bundle import import_bundle
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.runs import materialize

    started = time.perf_counter()
    home = settings.home()
    click.echo(f"QUANT_ASSETS_HOME = {home.root}")
    manifest = import_bundle(Path(archive))
    click.echo(f"imported in {time.perf_counter() - started:.0f}s")
    held = held_partitions(manifest)
    with get_instance() as instance:
        defs = build_definitions()
        rest = [key.to_user_string() for key in defs.resolve_all_asset_keys() if key.to_user_string() not in manifest.assets]
        for assets, parts in downstream_steps(rest, _direct_deps(defs, rest), held):
            click.echo(f"materialising {', '.join(assets)} for {len(parts)} partitions ...")
            step_started = time.perf_counter()
            results = materialize(defs, assets, parts, settings.universe(), instance)
            failed = [r.run_id for r in results if not r.success]
            if failed:
                raise click.ClickException(f"materialisation failed in runs {', '.join(failed)}; see the Dagster UI")
            click.echo(f"  in {time.perf_counter() - step_started:.0f}s")
    click.echo(f"done in {time.perf_counter() - started:.0f}s.")
    click.echo(f"  lake:            {home.lake}")
    click.echo(f"  Dagster home:    {os.environ['DAGSTER_HOME']}")
    click.echo("  Dagster UI:      .venv/bin/quant-assets dev   (then open http://127.0.0.1:3000)")
    click.echo('  ad-hoc SQL:      .venv/bin/quant-assets sql "select symbol, count(*) from market_bars group by 1"')


def _direct_deps(defs, assets: list[str]) -> dict[str, set[str]]:
    """The assets each of ``assets`` reads directly, by name."""
    return {a: {k.to_user_string() for k in defs.resolve_assets_def(a).dependency_keys} for a in assets}


@click.command(help="Start the Dagster UI and daemon on this project's instance.")
@click.option("--port", default=3000, show_default=True)
def dev(port: int) -> None:
    prepare_dagster_home()
    workspace = settings.REPO_ROOT / "workspace.yaml"
    os.chdir(settings.REPO_ROOT)
    os.execvp("dagster", ["dagster", "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)])
