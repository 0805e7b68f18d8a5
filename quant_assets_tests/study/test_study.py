"""``quant-assets study`` end to end: three symbols, two weeks of model days, from a file drop
cut from the shipped sample (real Binance bars and derivatives, the Reddit fixture), through
Dagster to study_report, in a home of its own with an on-disk instance.

The study is run twice, as a person would after a kill: the first run is interrupted when it
reaches oos_eval (its models done), the second resumes. From the instance's materialization
records: every partition of every step was materialized exactly once over both runs, and the
second run launched nothing for the steps the first finished. Then the report: its asset
metadata (path, link, summary, MLflow run), the MLflow artifact (the same bytes as the file),
its verdict count against the lake's gate_verdict rows, and a browser that opens the file with
every network request refused and finds each plot drawn.
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from dagster import AssetKey, AssetRecordsFilter

from quant_assets.evaluation.gate_window import GATE_ASSET
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets_tests.study.sample_file_drop import file_drop

SYMBOLS = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
START, END = date(2025, 10, 27), date(2025, 11, 9)  # two weeks of model days: two weekly refits per symbol
KEY = f"{START}_{END}_{'+'.join(SYMBOLS)}"
ASSETS = ["market_bars", "derivatives", "social_text", "text_embeddings", "text_latents", "feature_matrix", "labels",
          "multi_horizon_model", "oos_eval", "gate_verdict"]  # fmt: skip
INTERRUPTED_AT = "oos_eval"
UNPUBLISHED = DaySymbol(date(2025, 11, 2), "ETH-USDT")


class Interrupted(KeyboardInterrupt):
    """What Ctrl-C raises, planted where the study launches oos_eval."""


def _study(args: list[str]):
    from quant_assets.cli import main

    return CliRunner().invoke(main, ["study", *args], catch_exceptions=True)


@pytest.fixture(scope="module")
def study_home(tmp_path_factory):
    """The home after an interrupted study and its resumed run: (home, first run, second run, run ids before the resume)."""
    import quant_assets.runs as runs_module
    from quant_assets.instance import get_instance

    root = tmp_path_factory.mktemp("study")
    drop = file_drop(root / "drop", date(2025, 10, 1), END, SYMBOLS)
    home = root / "home"
    args = ["--start", str(START), "--end", str(END), "--symbols", ",".join(SYMBOLS), "--data", str(drop)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANT_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        mp.setenv("QUANT_ASSETS_TRAIN_DAYS", "21")  # fit windows from 2025-10-06: the data starts in October
        mp.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # the study sets these two for --data; set here first so they are restored afterwards
        mp.setenv("QUANT_ASSETS_MARKET_SOURCE", "bundle")
        mp.setenv("QUANT_ASSETS_FILE_DROP", str(drop))
        real = runs_module.materialize

        def interrupting(defs, assets, *a, **kw):
            if assets == [INTERRUPTED_AT]:
                raise Interrupted()
            return real(defs, assets, *a, **kw)

        mp.setattr(runs_module, "materialize", interrupting)
        first = _study(args)
        mp.setattr(runs_module, "materialize", real)
        with get_instance() as instance:
            before = set(instance.get_run_ids())
        second = _study(args)
        with get_instance() as instance:
            records = {a: _materialized(instance, a) for a in [*ASSETS, "study_report"]}
            resumed_runs = [instance.get_run_by_id(r) for r in set(instance.get_run_ids()) - before]
        # a partition the instance holds but the lake does not publish (as after a failed check)
        shutil.move(home / "lake" / "oos_eval" / f"date={UNPUBLISHED.day}" / f"symbol={UNPUBLISHED.symbol}", root / "set-aside")
        third = _study(args)
        with get_instance() as instance:
            after_third = {a: _materialized(instance, a) for a in [*ASSETS, "study_report"]}
        yield {"home": home, "first": first, "second": second, "records": records, "resumed_runs": resumed_runs,
               "third": third, "after_third": after_third}  # fmt: skip


def _materialized(instance, asset: str) -> Counter:
    """Materializations per partition key of ``asset``, from the instance's records."""
    out, cursor = Counter(), None
    while True:
        page = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1000, cursor=cursor)
        out.update(r.partition_key for r in page.records)
        if not page.has_more:
            return out
        cursor = page.cursor


@pytest.mark.slow
def test_an_interrupted_study_resumes_and_redoes_only_what_was_missing(study_home):
    first, second, records = study_home["first"], study_home["second"], study_home["records"]
    assert first.exit_code != 0 and isinstance(first.exception, (KeyboardInterrupt, SystemExit)), first.output
    assert second.exit_code == 0, second.output + repr(second.exception)
    model_parts = {str(DaySymbol(d, s)) for d in pl.date_range(START, END, eager=True).to_list() for s in SYMBOLS}
    for asset in ASSETS:
        counts = records[asset]
        assert counts, f"{asset}: never materialized"
        assert set(counts.values()) == {1}, f"{asset}: partitions materialized twice: {[k for k, n in counts.items() if n > 1][:5]}"
    for asset in ("multi_horizon_model", "oos_eval", "gate_verdict"):
        assert set(records[asset]) == model_parts, asset
    assert records["study_report"] == Counter({KEY: 1})
    # the resumed run launched runs only for the steps the first never reached
    launched = {key.to_user_string() for run in study_home["resumed_runs"] for key in (run.asset_selection or [])}
    assert launched == {"oos_eval", "gate_verdict", "study_report"}
    assert "multi_horizon_model: 0 of 42 partitions to materialize (42 done before)" in second.output


@pytest.mark.slow
def test_a_partition_the_lake_does_not_publish_is_done_again(study_home):
    """Done means materialized in the instance and published in the lake: the oos_eval partition
    taken out of the lake is evaluated again, and nothing else (the report is always rebuilt)."""
    third, before, after = study_home["third"], study_home["records"], study_home["after_third"]
    assert third.exit_code == 0, third.output + repr(third.exception)
    assert "oos_eval: 1 of 42 partitions to materialize (41 done before)" in third.output
    for asset in ASSETS:
        expected = before[asset] + (Counter({str(UNPUBLISHED): 1}) if asset == "oos_eval" else Counter())
        assert after[asset] == expected, asset
    assert after["study_report"] == Counter({KEY: 2})
    assert (study_home["home"] / "lake" / "oos_eval" / f"date={UNPUBLISHED.day}" / f"symbol={UNPUBLISHED.symbol}" / "part-0.parquet").is_file()


@pytest.mark.slow
def test_the_report_is_an_asset_with_its_link_and_an_mlflow_artifact(study_home):
    from mlflow import MlflowClient

    from quant_assets.registry.store import MlflowStore
    from quant_assets.registry.tracking import STUDY_EXPERIMENT

    home = study_home["home"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANT_ASSETS_HOME", str(home))
        mp.setenv("DAGSTER_HOME", str(home / "dagster"))
        from quant_assets.instance import get_instance

        with get_instance() as instance:
            (record,) = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey("study_report")), limit=1).records
        meta = record.asset_materialization.metadata
        path = Path(meta["path"].value)
        assert path.is_file() and path.parent == home / "reports" and path.name == f"study_{KEY}.html"
        assert meta["report_url"].value == path.as_uri()
        lake = ParquetLake(str(home / "lake"))
        verdict_rows = lake.read_many(GATE_ASSET, [DaySymbol(END, s) for s in SYMBOLS])
        assert meta["verdicts"].value == verdict_rows.height > 0
        # the pooled family is judged like every family, for every symbol, and the report says whether it beats lgbm
        pooled = verdict_rows.filter(pl.col("family") == "lgbm_pooled")
        assert set(pooled["symbol"]) == set(SYMBOLS) and pooled.height == 4 * len(SYMBOLS)
        for symbol, judged in verdict_rows.group_by("symbol"):  # the trial count counts every series judged, the pooled ones too
            assert judged["trials_counted"].str.starts_with(f"{judged.height} series").all(), (symbol, judged["trials_counted"][0])
        html = path.read_text()
        assert "Pooled fit vs per-symbol fits" in html and "The pooled fit (lgbm_pooled)" in html
        assert "The pooled fit (lgbm_pooled)" in meta["summary"].value
        assert meta["verdicts_passed"].value == int(verdict_rows["passed"].sum())
        summary = meta["summary"].value
        assert f"{meta['verdicts_passed'].value} passed** of {verdict_rows.height}" in summary and path.as_uri() in summary
        # one MLflow run per study, the report its artifact, byte for byte
        store = MlflowStore.from_env()
        client = MlflowClient(store.tracking_uri)
        run = client.get_run(meta["mlflow_run_id"].value)
        assert client.get_experiment(run.info.experiment_id).name == STUDY_EXPERIMENT
        assert run.data.tags["quant_assets.study"] == KEY
        assert len(client.search_runs([run.info.experiment_id])) == 1
        local = client.download_artifacts(run.info.run_id, path.name, str(home / "downloaded"))
        assert hashlib.sha256(Path(local).read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest()
        assert meta["mlflow_run"].value.endswith(f"/runs/{run.info.run_id}")


@pytest.mark.slow
def test_the_report_opens_offline_in_a_browser_with_its_plots_drawn(study_home):
    from quant_assets_tests.browser import artifacts_dir, chromium_page, require_browser, screenshot

    require_browser()
    path = study_home["home"] / "reports" / f"study_{KEY}.html"
    html = path.read_text()
    assert "<script src=" not in html  # the library is inline; the route below refuses any fetch all the same
    shots = artifacts_dir("study-report")
    refused = []
    figures = 3 * (len(SYMBOLS) + 1) + 2  # equity, rank IC, calibration per symbol and the universe; coverage; pooled vs lgbm
    with chromium_page() as page:
        page.context.set_offline(True)
        page.route(
            "**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else (refused.append(route.request.url), route.abort())
        )
        page.goto(path.as_uri())
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {figures}")
        plots = page.locator(".js-plotly-plot")
        assert plots.count() == figures
        for i in range(figures):  # every figure drew its axes and at least one trace
            plot = plots.nth(i)
            assert plot.locator(".main-svg").count() >= 1 and plot.locator(".scatterlayer .trace, .barlayer .trace").count() >= 1, (
                f"figure {i} is empty"
            )
        assert page.locator("table.verdicts tbody tr").count() > 0
        screenshot(page, shots, "01-study-report")
    assert not refused, f"the report asked the network for {refused[:3]}"
