"""``quant-assets demo`` (the README's main command) and ``quant-assets dev`` (the UI)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from quant_assets import settings
from quant_assets.instance import prepare_dagster_home
from quant_assets.runs import ProgressLines, materialize

SAMPLE_BUNDLE = settings.REPO_ROOT / "data" / "sample_bundle.tar.gz"


@click.command(help="Import the shipped sample bundle and materialize the whole graph.")
@click.option("--bundle", "archive", default=str(SAMPLE_BUNDLE), show_default=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model-days", default=28, show_default=True, help="models and their evaluations for the bundle's last N days")
@click.option("--replay-days", default=2, show_default=True, help="paper replay of the bundle's last N days on the champions (0: none)")
def demo(archive: str, model_days: int, replay_days: int) -> None:
    from quant_assets.assets.report import REPORT_ASSET
    from quant_assets.bundles.coverage import downstream_steps, held_partitions, servable_days
    from quant_assets.cli.bundle import import_bundle
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.models.record import MODELS_ASSET
    from quant_assets.models.window import MIN_TRAIN_DAYS
    from serving.assets import BOOK_ASSET

    started = time.perf_counter()
    home = settings.home()
    click.echo(f"QUANT_ASSETS_HOME = {home.root}")
    # Every step reports progress on stderr as it goes (runs.materialize), so minutes of
    # work are never minutes of silence.
    click.echo(f"[1] importing {Path(archive).name}: verify, unpack, materialize its assets ...")
    manifest = import_bundle(Path(archive))
    click.echo(f"imported in {time.perf_counter() - started:.0f}s")
    held = held_partitions(manifest)
    with get_instance() as instance:
        defs = build_definitions()
        # trading_book reads the ledger, not the lake: it follows the paper replay below.
        # study_report is one partition per `quant-assets study`, not a day of data.
        skip = (*manifest.assets, BOOK_ASSET, REPORT_ASSET)
        rest = [key.to_user_string() for key in defs.resolve_all_asset_keys() if key.to_user_string() not in skip]
        deps = _direct_deps(defs, rest)
        # Models train on every day before them, so they and what follows them are run for the
        # sample's last weeks only, and only where a fit window holds enough of the bundle's
        # days; the data assets run wherever the bundle holds their inputs.
        modelled = _downstream_of(MODELS_ASSET, deps)
        steps = downstream_steps([a for a in rest if a not in modelled], deps, held)
        every = set().union(*held.values())
        served = servable_days(every, model_days, settings.train_days(), settings.refit_days())
        if served:
            steps.append(([a for a in rest if a in modelled], served))
        else:
            click.echo(f"no models: no day of the bundle's last {model_days} has {MIN_TRAIN_DAYS} bundled days in its fit window")
        for i, (assets, parts) in enumerate(steps, start=2):
            if not assets or not parts:
                continue
            click.echo(
                f"[{i}/{len(steps) + 1}] {time.perf_counter() - started:.0f}s in; materializing {', '.join(assets)} "
                f"for {len(parts)} partitions ({len(assets) * len(parts)} asset partitions) ..."
            )
            step_started = time.perf_counter()
            results = materialize(defs, assets, parts, settings.universe(), instance, progress=ProgressLines(write=_echo_err))
            failed = [r.run_id for r in results if not r.success]
            if failed:
                raise click.ClickException(f"materialization failed in runs {', '.join(failed)}; see the Dagster UI")
            click.echo(f"  in {time.perf_counter() - step_started:.0f}s")
    if served and replay_days > 0:
        _paper_replay(served, replay_days, started)
    click.echo(f"done in {time.perf_counter() - started:.0f}s.")
    click.echo(f"  lake:            {home.lake}")
    click.echo(f"  Dagster home:    {os.environ['DAGSTER_HOME']}")
    click.echo("  Dagster UI:      .venv/bin/quant-assets dev   (then open http://127.0.0.1:3000)")
    click.echo("  MLflow UI:       .venv/bin/quant-assets mlflow   (then open http://127.0.0.1:5000)")
    click.echo('  ad-hoc SQL:      .venv/bin/quant-assets sql "select symbol, count(*) from market_bars group by 1"')


def _paper_replay(served, days: int, started: float) -> None:
    """Champions (a person's promotion, done by this script and said so), then ``paper replay``
    of the last ``days`` served days through the very command a person types."""
    from quant_assets.cli.demo_trading import crown_for_demo, replay_window
    from serving.cli import replay

    symbols = sorted({p.symbol for p in served})
    click.echo(f"[trade] {time.perf_counter() - started:.0f}s in; champions for {', '.join(symbols)} "
               "(the system never promotes; this demo script does, for you):")  # fmt: skip
    crown_for_demo(symbols)
    start, end = replay_window(max(p.day for p in served), days)
    click.echo(f"[trade] quant-assets paper replay --start {start:%Y-%m-%dT%H:%M} --end {end:%Y-%m-%dT%H:%M} "
               "(the live sensor stays STOPPED) ...")  # fmt: skip
    click.get_current_context().invoke(replay, start=start, end=end, symbols=",".join(symbols), strategy="replay")
    _book_days(start.date(), end.date())
    click.echo("  the ledger: .venv/bin/quant-assets orders --mode paper; .venv/bin/quant-assets positions --mode paper")


def _book_days(first, last) -> None:
    """trading_book for the replayed days: their positions and PnL in the Dagster UI."""
    from datetime import timedelta

    from dagster import materialize as dagster_materialize

    from quant_assets.instance import get_instance
    from serving.assets import trading_book

    day = first
    with get_instance() as instance:
        while day <= last:
            result = dagster_materialize([trading_book], partition_key=day.isoformat(), instance=instance)
            (event,) = result.get_asset_materialization_events()
            pnl = event.materialization.metadata["pnl/paper/replay"].value
            click.echo(f"[trade] trading_book {day}: the replay's PnL {pnl:+,.2f} USDT")
            day += timedelta(days=1)


def _echo_err(line: str) -> None:
    click.echo(line, err=True)


def _direct_deps(defs, assets: list[str]) -> dict[str, set[str]]:
    """The assets each of ``assets`` reads directly, by name."""
    return {a: {k.to_user_string() for k in defs.resolve_assets_def(a).dependency_keys} for a in assets}


def _downstream_of(root: str, deps: dict[str, set[str]]) -> set[str]:
    """``root`` and every asset that reads it, directly or not."""
    found = {root}
    while True:
        more = {a for a, parents in deps.items() if parents & found} - found
        if not more:
            return found
        found |= more


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
