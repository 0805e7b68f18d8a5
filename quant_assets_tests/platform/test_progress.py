"""materialize reports where it stands (asset partitions and assets done of total, the step
running, elapsed, rate) from its runs' own events, and the CLI shows it on stderr."""

from __future__ import annotations

import shutil
from datetime import date

import pytest
from dagster import DagsterInstance

from quant_assets import runs
from quant_assets.partitions import DaySymbol
from quant_assets.runs import Progress, ProgressLines, materialize
from quant_assets_tests.derivatives.binance_fixtures import DERIV_FIXTURES

UNIVERSE = ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
# Not a rectangle: ETH on Oct 5-6 and BTC on Oct 5-7, so two runs (ETH's first).
PARTS = [DaySymbol(date(2025, 10, d), s) for d in (5, 6) for s in ("BTC-USDT", "ETH-USDT")] + [DaySymbol(date(2025, 10, 7), "BTC-USDT")]


@pytest.fixture
def file_drop_defs(spot_file_drop):
    for name in ("binance_usdm_funding_rate.parquet", "binance_usdm_mark_1h.parquet"):
        shutil.copy(DERIV_FIXTURES / name, spot_file_drop / name)
    from quant_assets.definitions import build_definitions

    return build_definitions()


def test_progress_counts_every_asset_partition_across_runs(file_drop_defs):
    seen: list[Progress] = []
    with DagsterInstance.ephemeral() as instance:
        results = materialize(file_drop_defs, ["market_bars", "derivatives"], PARTS, UNIVERSE, instance, progress=seen.append)
    assert len(results) == 2 and all(r.success for r in results)

    final = seen[-1]
    assert final.finished and (final.done, final.total, final.assets_done, final.assets_total) == (10, 10, 2, 2)
    assert final.line().startswith("materialize: done; 2/2 assets, 10/10 asset partitions, ")
    # Each asset's step, then its checks, per run: the count as each asset's step ends.
    step_ends = [b.done for a, b in zip(seen, seen[1:]) if a.running and not b.running]
    assert step_ends == [2, 4, 7, 10]
    assert sorted({p.done for p in seen}) == list(range(11))
    assert {p.running for p in seen} == {"market_bars", "derivatives", ""}
    # market_bars has all 5 partitions only in the second run, before derivatives does.
    assert next(p for p in seen if p.assets_done == 1).done == 7
    assert next(p for p in seen if p.assets_done == 2).done == 10
    # Dagster records every asset partition as planned before a run's steps start.
    assert final.planned == 10 and [p.planned for p in seen if p.running][0] == 4
    assert "(4 planned)" in next(p for p in seen if p.running).line()
    elapsed = [p.elapsed_s for p in seen]
    assert elapsed == sorted(elapsed) and final.rate == pytest.approx(10 / final.elapsed_s)


def _p(elapsed_s, running="", done=0, finished=False) -> Progress:
    return Progress(done=done, total=10, assets_done=0, assets_total=2, elapsed_s=elapsed_s, running=running, finished=finished, planned=10)


def test_lines_are_quiet_for_a_short_job_then_per_step_throttled_and_final():
    lines: list[str] = []
    report = ProgressLines(every_s=2.0, write=lines.append)
    for p in [_p(0.1, "market_bars"), _p(1.0, done=4), _p(2.5, "derivatives", 4), _p(3.0, "derivatives", 5),
              _p(4.6, "derivatives", 6), _p(4.7, "", 8), _p(4.8, "market_bars", 8), _p(5.0, "", 10, finished=True)]:  # fmt: skip
        report(p)
    assert lines == [
        "materialize: running derivatives; 0/2 assets, 4/10 asset partitions, 2s elapsed, 1.6 partitions/s",
        "materialize: running derivatives; 0/2 assets, 6/10 asset partitions, 4s elapsed, 1.3 partitions/s",
        "materialize: running market_bars; 0/2 assets, 8/10 asset partitions, 4s elapsed, 1.7 partitions/s",
        "materialize: done; 0/2 assets, 10/10 asset partitions, 5s elapsed, 2.0 partitions/s",
    ]
    quiet: list[str] = []
    short = ProgressLines(every_s=2.0, write=quiet.append)
    for p in [_p(0.2, "market_bars"), _p(1.9, "", 10, finished=True)]:
        short(p)
    assert quiet == []


def test_a_step_started_while_quiet_is_shown_and_a_silent_step_gets_a_heartbeat():
    lines: list[str] = []
    report = ProgressLines(every_s=2.0, heartbeat_s=30.0, write=lines.append)
    # The step starts in the quiet spell and then emits nothing: the clock ticks carry on.
    for p in [_p(0.1, "text_embeddings"), _p(2.0, "text_embeddings"), _p(4.0, "text_embeddings"),
              _p(31.0, "text_embeddings"), _p(32.1, "text_embeddings"), _p(34.0, "text_embeddings")]:  # fmt: skip
        report(p)
    assert [line.split(";")[0] + " @" + line.split(", ")[2] for line in lines] == [
        "materialize: running text_embeddings @2s elapsed",
        "materialize: running text_embeddings @32s elapsed",
    ]
    assert Progress(done=0, total=6, assets_done=0, assets_total=1, elapsed_s=125.0).line().endswith("2m05s elapsed, 0.0 partitions/s")


def test_bundle_import_shows_materialization_progress_on_stderr(qa_home, tmp_path, monkeypatch):
    """The bundle import calls materialize without a reporter: the default prints to stderr."""
    from click.testing import CliRunner

    from quant_assets.bundles.export import write_bundle
    from quant_assets.cli import main
    from quant_assets_tests.bundles.archives import SYMBOLS, bundle_entries

    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", ",".join(SYMBOLS))
    monkeypatch.delenv("QUANT_ASSETS_MARKET_SOURCE", raising=False)
    monkeypatch.setattr(runs, "PROGRESS_EVERY_S", 0.0)  # this import is short; show every line
    archive = tmp_path / "bars.tar.gz"
    write_bundle(archive, bundle_entries())
    result = CliRunner().invoke(main, ["bundle", "import", str(archive)])
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("materialize: ")]
    assert progress[0].startswith("materialize: materializing; 0/1 assets, 0/4 asset partitions (1 planned), ")
    assert next(line for line in progress if "running" in line).startswith("materialize: running market_bars; 0/1 assets, 0/4 asset partitions, ")
    assert progress[-1].startswith("materialize: done; 1/1 assets, 4/4 asset partitions, ")
    assert "materialize:" not in result.stdout


def test_a_broken_progress_stream_does_not_fail_the_run(file_drop_defs):
    def broken(progress: Progress) -> None:
        raise BrokenPipeError("stderr closed")

    with DagsterInstance.ephemeral() as instance:
        results = materialize(file_drop_defs, ["market_bars"], PARTS[:2], UNIVERSE, instance, progress=broken)
    assert [r.success for r in results] == [True]
