"""``quant-assets study``: a walk-forward study of a range of model days over a universe, through
Dagster from the sources to ``study_report``, resumable.

What it runs, each step one ``runs.materialize`` launch (one run per partition rectangle, with
the assets' blocking checks), in dependency order, so a person can watch them in the Dagster UI:

- the sources (``market_bars``, ``derivatives``) from the day before the first fit window to
  ``--end``; ``social_text`` only on the days the social source holds text (text that was never
  collected is unknown, not a day without posts), and the text assets after it on those days;
- ``feature_matrix`` and ``labels`` from the first fit window's first day to ``--end``;
- ``multi_horizon_model`` (weekly refits: days sharing an anchor share one fit; every family),
  ``oos_eval`` and ``gate_verdict`` on the model days ``--start..--end``;
- ``study_report`` for the study's key (``quant_assets.assets.report``).

Labels of the last 7 days lack the bars after ``--end``: those oos_eval days are partial, as
they are live; no verdict up to ``--end`` needs them (a verdict's evidence is the days whose
every label was known on its day).

Resuming: a partition already materialized in the Dagster instance and published in the lake
is not run again, so a second run after a kill redoes only what is missing. The report, a
few seconds, is rebuilt on every run: it shows what the lake holds now.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from quant_assets import settings
from quant_assets.partitions import DaySymbol, days_between

SUMMARY_PREFIX = "study summary: "
# Step name -> its assets, in the order they run. The names are the bench's timing keys.
SOURCES = ("market_bars", "derivatives")
STEPS = (
    ("text", ("text_embeddings", "text_latents")),
    ("features", ("feature_matrix",)),
    ("labels", ("labels",)),
    ("models", ("multi_horizon_model",)),
    ("oos", ("oos_eval",)),
    ("gate", ("gate_verdict",)),
)
# Steps whose partitions of one symbol never wait on another symbol's in the same run: their
# runs are cut by symbol over worker processes (``runs.ProcessRuns``). Not
# text_embeddings (its cache is by content, shared by every symbol: two processes would embed
# the same text twice) nor multi_horizon_model (a fit step of its own, and the pooled family's
# fit spans every symbol).
BY_SYMBOL = frozenset({"market_bars", "derivatives", "social_text", "text_latents", "feature_matrix", "labels", "oos_eval", "gate_verdict"})


def study_processes() -> int:
    """How many processes a study's by-symbol steps run in at once (``QUANT_ASSETS_STUDY_PROCESSES``,
    default the CPU count)."""
    return settings.current().study.processes


def _day(_ctx, _param, value: datetime | None) -> date | None:
    return value.date() if value else None


@click.command(help="Run a walk-forward study of model days START..END through Dagster (resumable), then its report.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="first model day")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), callback=_day, help="last model day")
@click.option("--symbols", default=None, help="comma-separated keys, e.g. BTC-USDT,ETH-USDT (default: QUANT_ASSETS_SYMBOLS)")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="a file drop (../shared/data layout) every source reads: "
                   "sets QUANT_ASSETS_MARKET_SOURCE=file and QUANT_ASSETS_FILE_DROP")  # fmt: skip
@click.option("--bundle", "bundles", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="offline bundle(s) to import first; the sources then read what they unpacked")  # fmt: skip
def study(start: date, end: date, symbols: str | None, data: str | None, bundles: tuple[str, ...]) -> None:
    started = time.perf_counter()
    if end < start:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    wanted = tuple(s.strip() for s in (symbols or ",".join(settings.universe())).split(",") if s.strip())
    if data:
        os.environ.update(QUANT_ASSETS_MARKET_SOURCE="file", QUANT_ASSETS_FILE_DROP=str(Path(data).resolve()))
    plan = study_plan(start, end, wanted, settings.train_days(), settings.refit_days())
    _settle_partitions(plan, wanted)
    timings: dict[str, float] = {}
    click.echo(f"QUANT_ASSETS_HOME = {settings.home().root}")
    click.echo(f"study {start}..{end}, {len(wanted)} symbols; data from {plan['upstream'][0].day} (fit windows and lookbacks)")
    if bundles:
        from quant_assets.cli.bundle import import_bundle

        t0 = time.perf_counter()
        for archive in bundles:
            click.echo(f"[import] {Path(archive).name}: verify, unpack, materialize its assets ...")
            import_bundle(Path(archive))
        timings["import_s"] = time.perf_counter() - t0
    counts: dict[str, int] = {}
    report_key = run_study(plan, wanted, timings, counts, started)
    click.echo(f"done in {time.perf_counter() - started:.0f}s.")
    click.echo(f"  report:      {report_key['path']}   (open it in a browser; it needs no network)")
    click.echo(f"  Dagster UI:  .venv/bin/quant-assets dev, asset study_report, partition {report_key['key']}")
    click.echo(f"  MLflow UI:   .venv/bin/quant-assets mlflow, experiment quant_assets.studies, run {report_key['mlflow_run_id']}")
    click.echo(f"  same settings for the UIs: QUANT_ASSETS_SYMBOLS={os.environ['QUANT_ASSETS_SYMBOLS']} "
               f"QUANT_ASSETS_START_DATE={os.environ['QUANT_ASSETS_START_DATE']}")  # fmt: skip
    # The last line, machine-readable (benchmarks/bench_study.py reads it): seconds per step,
    # asset partitions materialized by this run, fits planned, verdicts on the last day.
    summary = {k: round(v, 1) for k, v in timings.items()} | counts | {"total_s": round(time.perf_counter() - started, 1)}
    click.echo(SUMMARY_PREFIX + json.dumps(summary, sort_keys=True))


def study_plan(start: date, end: date, symbols: tuple[str, ...], train_days: int, refit_days: int) -> dict[str, list[DaySymbol]]:
    """The partitions a study needs, per kind: ``models`` (the model days), ``features`` (every
    fit window's days through ``end``) and ``upstream`` (one day more before, for the feature
    lookback). Pure."""
    from quant_assets.models.plan import plan_fits

    model_parts = [DaySymbol(d, s) for d in days_between(start, end) for s in symbols]
    first = min(d for f in plan_fits(model_parts, train_days, refit_days) for d in f.window.days)
    return {
        "models": model_parts,
        "features": [DaySymbol(d, s) for d in days_between(first, end) for s in symbols],
        "upstream": [DaySymbol(d, s) for d in days_between(first - timedelta(days=1), end) for s in symbols],
    }


def _settle_partitions(plan: dict, symbols: tuple[str, ...]) -> None:
    """The universe and first partition day the study needs, set where the user left them unset
    (partitions are built from them when the definitions load), refused in one line where a
    setting the user chose leaves the study out."""
    first = plan["upstream"][0].day
    if not settings.is_set("QUANT_ASSETS_SYMBOLS"):
        os.environ["QUANT_ASSETS_SYMBOLS"] = ",".join(symbols)
    outside = [s for s in symbols if s not in settings.universe()]
    if outside:
        raise click.ClickException(
            f"symbols {', '.join(outside)} are not in QUANT_ASSETS_SYMBOLS ({','.join(settings.universe())}); add them or leave it unset"
        )
    if not settings.is_set("QUANT_ASSETS_START_DATE"):
        os.environ["QUANT_ASSETS_START_DATE"] = first.isoformat()
    if settings.start_date() > first:
        raise click.ClickException(
            f"QUANT_ASSETS_START_DATE is {settings.start_date()}, but the study's first fit window needs data from {first}; "
            f"set it to {first} or earlier, or start the study later"
        )
    os.environ.setdefault("QUANT_ASSETS_SYMBOLS", ",".join(settings.universe()))
    os.environ.setdefault("QUANT_ASSETS_START_DATE", settings.start_date().isoformat())


def run_study(plan: dict, symbols: tuple[str, ...], timings: dict[str, float], counts: dict[str, int], started: float) -> dict:
    """Every step of the study, each on its missing partitions; then the report. Returns the
    report's key, path and MLflow run id; ``timings`` gets seconds per step, ``counts`` the
    partitions materialized, the fits the model days need and the last day's verdicts."""
    from dagster import AssetKey

    from quant_assets.assets.report import REPORT_ASSET, STUDY_PARTITIONS, report_path
    from quant_assets.definitions import asset_definitions, build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.models.plan import plan_fits
    from quant_assets.report.frames import Study
    from quant_assets.runs import ProcessRuns

    defs = build_definitions()
    universe = settings.universe()
    study_key = Study(plan["models"][0].day, plan["models"][-1].day, symbols)
    with get_instance() as instance:
        text_parts = text_days(defs, plan["upstream"])
        steps = [("import", SOURCES, plan["upstream"]), ("import", ("social_text",), text_parts)]
        steps += [(name, assets, _parts_of(name, plan, text_parts)) for name, assets in STEPS]
        # The workers end before the report: it reads the whole study in this process, and idle
        # workers would hold their last step's memory beside it.
        with ProcessRuns(study_processes(), asset_definitions) as across:
            for i, (name, assets, parts) in enumerate(steps, start=1):
                for asset in assets:
                    todo = missing(instance, asset, parts)
                    t0 = time.perf_counter()
                    done_before = f" ({len(parts) - len(todo)} done before)" if len(todo) < len(parts) else ""
                    click.echo(f"[{i}/{len(steps) + 1}] {time.perf_counter() - started:.0f}s in; "
                               f"{asset}: {len(todo)} of {len(parts)} partitions to materialize{done_before}")  # fmt: skip
                    if todo:
                        _materialize(defs, [asset], todo, universe, instance, across=across if asset in BY_SYMBOL else None)
                    counts["partitions"] = counts.get("partitions", 0) + len(todo)
                    timings[f"{name}_s"] = timings.get(f"{name}_s", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        instance.add_dynamic_partitions(STUDY_PARTITIONS.name, [study_key.key])
        click.echo(f"[{len(steps) + 1}/{len(steps) + 1}] {time.perf_counter() - started:.0f}s in; {REPORT_ASSET} {study_key.key} ...")
        _materialize(defs, [REPORT_ASSET], None, universe, instance, partition_key=study_key.key)
        timings["report_s"] = time.perf_counter() - t0
        event = instance.get_latest_materialization_event(AssetKey(REPORT_ASSET))
        meta = event.asset_materialization.metadata
        click.echo(f"  {meta['verdicts_passed'].value} of {meta['verdicts'].value} verdicts on {study_key.end} passed")
        counts.update(verdicts=meta["verdicts"].value, verdicts_passed=meta["verdicts_passed"].value,
                      fits=len(plan_fits(plan["models"], settings.train_days(), settings.refit_days())))  # fmt: skip
    return {"key": study_key.key, "path": str(report_path(study_key)), "mlflow_run_id": meta["mlflow_run_id"].value}


def _parts_of(step: str, plan: dict, text_parts: list[DaySymbol]) -> list[DaySymbol]:
    return {"text": text_parts, "features": plan["features"], "labels": plan["features"]}.get(step, plan["models"])


def text_days(defs, parts: list[DaySymbol]) -> list[DaySymbol]:
    """Of ``parts``, those the social source holds text for: a file drop from its first item's
    day on, unpacked bundles where a bundle holds the social_text partition; any other source
    (one that fetches) everywhere."""
    from quant_assets.bundles.unpacked import UnpackedBundles
    from quant_assets.resources.social_data import BundleSocialText, FileDropSocialText
    from quant_assets.social.text import SOCIAL_TEXT_ASSET

    source = defs.resources["social_source"]
    if isinstance(source, FileDropSocialText):
        items, _ = source.read_items()
        if items.is_empty():
            return []
        first = items["created_at"].min().date()
        return [p for p in parts if p.day >= first]
    if isinstance(source, BundleSocialText):
        return sorted(UnpackedBundles(source.bundles_root).locate(SOCIAL_TEXT_ASSET, parts))
    return parts


def missing(instance, asset: str, parts: list[DaySymbol]) -> list[DaySymbol]:
    """Of ``parts``, those with no materialization of ``asset`` in the instance, or (for an
    asset the lake holds) none published: a partition whose checks failed is done again."""
    from dagster import AssetKey

    from quant_assets.lake.store import ParquetLake

    done = instance.get_materialized_partitions(AssetKey(asset))
    lake = ParquetLake(settings.home().lake)
    return [p for p in parts if str(p) not in done or not lake.exists(asset, p)]


def _materialize(defs, assets: list[str], parts, universe, instance, partition_key: str | None = None, across=None):
    """One step through ``runs.materialize`` (progress on stderr, as every command shows it);
    a failed run stops the study in one line, and what it finished stays for the next run."""
    from quant_assets.cli.demo import _echo_err
    from quant_assets.runs import ProgressLines, materialize

    results = materialize(defs, assets, parts or [], universe, instance, progress=ProgressLines(write=_echo_err), partition_key=partition_key,
                          across=across)  # fmt: skip
    failed = [r.run_id for r in results if not r.success]
    if failed:
        raise click.ClickException(f"{', '.join(assets)}: runs {', '.join(failed)} failed; see the Dagster UI. Run the same command again to resume")
    return results
