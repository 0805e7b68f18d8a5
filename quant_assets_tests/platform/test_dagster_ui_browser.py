"""A person in the Dagster UI, in a real browser: ``quant-assets dev`` (webserver, daemon and
code server) runs on loopback over a small materialized home, and headless Chromium opens the
market group's asset graph, market_bars' partitions, the result of its ``bars_complete``
check, then launches a backfill of 2 days x 2 symbols from the asset's Materialize dialog.

GraphQL then says what the UI did: the backfill (the id the UI's toast named) completed, its
runs succeeded and materialized exactly the partitions chosen, and the lake holds them.

Bars come from a file drop (the repository's spot fixture), so nothing touches the network.
Screenshots of every page are kept in ``test-artifacts/dagster-ui/`` (or under
``$QUANT_ASSETS_TEST_ARTIFACTS``). Without Chromium or Playwright the test skips, except in CI,
where that is a failure (``quant_assets_tests/browser.py``).
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from dagster import PartitionKeyRange

from quant_assets import settings
from quant_assets.lake.store import ParquetLake
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions
from quant_assets.settings import REPO_ROOT
from quant_assets_tests.browser import UI_TIMEOUT_MS, artifacts_dir, chromium_page, require_browser, screenshot
from quant_assets_tests.platform.processes import dagster_dev, graphql, location_entry, stop_schedules

try:
    from playwright.sync_api import expect
except ImportError:  # require_browser says so, a failure in CI
    expect = None

SEEDED = DaySymbol(date(2025, 10, 5), "BTC-USDT")  # materialized before the UI starts
FIRST_DAY, LAST_DAY = "2025-10-06", "2025-10-07"  # the backfill the person launches
SYMBOLS = ("BTC-USDT", "ETH-USDT")  # two of the universe's three
BACKFILLED = {DaySymbol(date.fromisoformat(d), s) for d in (FIRST_DAY, LAST_DAY) for s in SYMBOLS}
CHECK = "bars_complete"
BARS_A_DAY = 288
BACKFILL_TIMEOUT_S = 900  # a few seconds of work; each run is a fresh process that imports the code location
KEY = {"path": [BARS_ASSET]}
FEATURES = "feature_matrix"

DAEMONS = """{ instance { daemonHealth {
  backfill: daemonStatus(daemonType: "BACKFILL") { healthy }
  queue: daemonStatus(daemonType: "QUEUED_RUN_COORDINATOR") { healthy } } } }"""
NODE = """query($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  partitionStats { numMaterialized } assetChecksOrError { ... on AssetChecks { checks { name } } } } }"""
CHECK_EXECUTIONS = """query($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) { runId status } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  __typename ... on PartitionBackfill { id status partitionNames runs { runId status tags { key value } } } } }"""
BACKFILL_IDS = "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id } } } }"
MATERIALIZATIONS = """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetMaterializations { partition runId } } } }"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


@pytest.fixture
def materialized_home(qa_home, spot_file_drop, monkeypatch) -> Path:
    """A home whose lake and Dagster instance hold one checked market_bars partition (SEEDED);
    bars come from the file drop, so the server's runs read them from disk only."""
    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)

    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.runs import materialize

    with get_instance() as instance:  # the instance the server will serve, before it starts
        assert all(r.success for r in materialize(build_definitions(), [BARS_ASSET], [SEEDED], [SEEDED.symbol], instance))
    return qa_home


def _shown(locator) -> None:
    expect(locator).to_be_visible(timeout=UI_TIMEOUT_MS)


def _wait_for_daemons(url: str, timeout_s: float = 180) -> None:
    """Backfills need the daemon: its backfill and run-queue loops must be heartbeating."""
    deadline = time.time() + timeout_s
    while True:
        health = graphql(url, DAEMONS)["instance"]["daemonHealth"]
        if health["backfill"]["healthy"] and health["queue"]["healthy"]:
            return
        assert time.time() < deadline, f"the daemon is not healthy after {timeout_s:.0f} s: {health}"
        time.sleep(1)


def _dismiss_community_dialog(page, url: str) -> None:
    """A fresh instance greets its first visitor with "Join the Dagster community"; Skip it,
    as a person would, so it covers nothing later."""
    if graphql(url, "{ shouldShowNux }")["shouldShowNux"]:
        skip = page.get_by_role("button", name="Skip")
        skip.click()
        expect(skip).to_be_hidden(timeout=UI_TIMEOUT_MS)


def _see_asset_graph(page, url: str, n_checks: int, shots: Path) -> None:
    page.goto(f"{url}/locations/quant_assets/asset-groups/market")
    _dismiss_community_dialog(page, url)
    _shown(page.get_by_text(BARS_ASSET, exact=True))
    # The node's summary: every check of the seeded run passed; the edges lead downstream.
    _shown(page.get_by_text(f"{n_checks} / {n_checks} Passed", exact=True))
    _shown(page.get_by_text("feature_matrix", exact=True))
    screenshot(page, shots, "01-asset-graph")


def _see_partition(page, url: str, part: DaySymbol, materialized: int, shots: Path, name: str) -> None:
    """The partitions tab with ``part`` selected: the count of materialized partitions, and
    the partition's own page with its row count and lake file."""
    page.goto(f"{url}/assets/{BARS_ASSET}?view=partitions&partition={part}")
    _shown(page.get_by_text(f"Materialized ({materialized})", exact=True))
    _shown(page.get_by_title(str(part), exact=True))  # the selected partition's heading
    _shown(page.get_by_text("Materialized", exact=True))  # the selected partition's status tag
    _shown(page.get_by_role("row").filter(has=page.get_by_text("rows", exact=True)).filter(has_text=str(BARS_A_DAY)))
    lake_file = f"{settings.home().lake}/{BARS_ASSET}/date={part.day.isoformat()}/symbol={part.symbol}/part-0.parquet"
    _shown(page.get_by_text(lake_file, exact=True))
    screenshot(page, shots, name)


def _see_check_result(page, url: str, shots: Path) -> None:
    page.goto(f"{url}/assets/{BARS_ASSET}?view=checks&checkDetail={CHECK}")
    _shown(page.get_by_text("This is a blocking asset check."))
    _shown(page.get_by_text("Evaluation result", exact=True))
    _shown(page.get_by_text("Passed", exact=True))
    for name, value in (("partitions_checked", "1"), ("partitions_published", "1"), ("partitions_quarantined", "0")):
        _shown(page.get_by_role("row").filter(has=page.get_by_text(name, exact=True)).filter(has=page.get_by_text(value, exact=True)))
    screenshot(page, shots, "03-check-result")


def _launch_backfill(page, url: str, shots: Path) -> str:
    """Materialize… -> a date range and two symbols -> Launch backfill; the backfill's id, as
    the UI's toast names it."""
    page.goto(f"{url}/assets/{BARS_ASSET}?view=partitions")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text=f"Launch runs to materialize {BARS_ASSET}")
    dates = dialog.get_by_placeholder("ex: ")  # "ex: 2025-10-01, 2025-10-02, [2025-10-03...]"
    dates.fill(f"[{FIRST_DAY}...{LAST_DAY}]")
    dates.press("Enter")
    dialog.get_by_text("Select a partition or create one").click()
    for symbol in SYMBOLS:
        page.get_by_role("menuitem", name=symbol).click()
    dialog.get_by_text(f"Launch runs to materialize {BARS_ASSET}").click()  # closes the symbol list
    expect(page.get_by_placeholder("Filter partitions")).to_be_hidden(timeout=UI_TIMEOUT_MS)
    _shown(dialog.get_by_text(f"{len(BACKFILLED)} partitions", exact=True))
    screenshot(page, shots, "04-backfill-dialog")
    dialog.get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text(re.compile(r"^Created backfill\s+\w+$"))
    _shown(toast)
    return re.fullmatch(r"Created backfill\s+(\w+)", toast.inner_text().strip()).group(1)


def _finished_backfill(url: str, backfill_id: str, log: Path) -> dict:
    deadline = time.time() + BACKFILL_TIMEOUT_S
    while True:
        backfill = graphql(url, BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        assert backfill["__typename"] == "PartitionBackfill", backfill
        if backfill["status"] in FINISHED:
            return backfill
        assert time.time() < deadline, f"backfill {backfill_id} still {backfill['status']} after {BACKFILL_TIMEOUT_S} s: {log.read_text()[-3000:]}"
        time.sleep(2)


def _range_partitions(tags: dict[str, str]) -> set[DaySymbol]:
    """The partitions a single-run backfill run covers, from its range tags."""
    span = PartitionKeyRange(tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
    return {DaySymbol.parse(k) for k in daily_symbol_partitions().get_partition_keys_in_range(span)}


def _see_backfill(page, url: str, backfill_id: str, shots: Path) -> None:
    page.goto(f"{url}/runs/b/{backfill_id}")
    _shown(page.get_by_text(backfill_id))  # the breadcrumb "Runs / <id>"
    _shown(page.get_by_role("button", name=f"{len(BACKFILLED)} partitions", exact=True))
    # The status tag beside its label (a column header further down also reads "Succeeded").
    expect(page.get_by_text("Status", exact=True).locator("..")).to_contain_text("Succeeded", timeout=UI_TIMEOUT_MS)
    _shown(page.get_by_text("100% completed", exact=True))
    screenshot(page, shots, "05-backfill-succeeded")


@contextmanager
def _dagster_ui(log: Path):
    """``quant-assets dev`` with its code location loaded and its daemon healthy, and a browser."""
    require_browser()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with dagster_dev(env, log) as url, chromium_page() as page:
        entry = location_entry(url)
        assert entry and entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        # Only the test's backfills write the lake: the source schedules (on by default) are off.
        assert stop_schedules(url), "the source schedules were expected to be running"
        _wait_for_daemons(url)
        yield url, page


@pytest.mark.slow
def test_a_person_backfills_market_bars_from_the_dagster_ui(materialized_home, tmp_path):
    shots = artifacts_dir("dagster-ui")
    log = tmp_path / "dev.log"

    with _dagster_ui(log) as (url, page):
        node = graphql(url, NODE, {"key": KEY})["assetNodes"][0]
        n_checks = len(node["assetChecksOrError"]["checks"])
        assert CHECK in {c["name"] for c in node["assetChecksOrError"]["checks"]}
        assert node["partitionStats"]["numMaterialized"] == 1

        _see_asset_graph(page, url, n_checks, shots)
        _see_partition(page, url, SEEDED, 1, shots, "02-partition-seeded")
        _see_check_result(page, url, shots)
        seeded_checks = graphql(url, CHECK_EXECUTIONS, {"key": KEY, "check": CHECK})["assetCheckExecutions"]
        assert [e["status"] for e in seeded_checks] == ["SUCCEEDED"]

        backfill_id = _launch_backfill(page, url, shots)
        # The toast names the one backfill there is: the one the dialog launched.
        listed = graphql(url, BACKFILL_IDS)["partitionBackfillsOrError"]["results"]
        assert [b["id"] for b in listed] == [backfill_id]
        backfill = _finished_backfill(url, backfill_id, log)
        assert backfill["status"] == "COMPLETED_SUCCESS", backfill
        assert {DaySymbol.parse(k) for k in backfill["partitionNames"]} == BACKFILLED
        runs = backfill["runs"]
        assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
        tags = [{t["key"]: t["value"] for t in r["tags"]} for r in runs]
        assert all(t["dagster/backfill"] == backfill_id and t["dagster/from_ui"] == "true" for t in tags), tags
        covered = [_range_partitions(t) for t in tags]
        assert set().union(*covered) == BACKFILLED and sum(map(len, covered)) == len(BACKFILLED), covered

        _see_backfill(page, url, backfill_id, shots)
        _see_partition(page, url, max(BACKFILLED), 1 + len(BACKFILLED), shots, "06-partition-backfilled")

        # Dagster records each partition as materialized by one of the backfill's runs...
        events = graphql(url, MATERIALIZATIONS, {"key": KEY})["assetOrError"]["assetMaterializations"]
        by_partition = {DaySymbol.parse(e["partition"]): e["runId"] for e in events}
        assert set(by_partition) == BACKFILLED | {SEEDED}
        assert {by_partition[p] for p in BACKFILLED} <= {r["runId"] for r in runs}
        assert graphql(url, NODE, {"key": KEY})["assetNodes"][0]["partitionStats"]["numMaterialized"] == 1 + len(BACKFILLED)
        # ...and the blocking checks ran on them and passed
        executions = graphql(url, CHECK_EXECUTIONS, {"key": KEY, "check": CHECK})["assetCheckExecutions"]
        assert {e["runId"] for e in executions} == {seeded_checks[0]["runId"]} | {r["runId"] for r in runs}, executions
        assert all(e["status"] == "SUCCEEDED" for e in executions), executions

    # ...and the lake holds them, published, a whole day of bars each.
    lake = ParquetLake(settings.home().lake)
    assert set(lake.partitions(BARS_ASSET)) == BACKFILLED | {SEEDED}
    assert all(lake.read(BARS_ASSET, p).height == BARS_A_DAY for p in BACKFILLED)
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-asset-graph.png", "02-partition-seeded.png", "03-check-result.png",
        "04-backfill-dialog.png", "05-backfill-succeeded.png", "06-partition-backfilled.png",
    ]  # fmt: skip


# ---- a backfill with a bad day: the good days materialized, the bad one not -----------------

SOURCE_END = "2025-10-07 18:00"  # the file drop's bars stop here on the backfill's last day
STATS = """query($key: AssetKeyInput!) { assetNodes(assetKeys: [$key]) {
  partitionStats { numMaterialized numFailed numMaterializing } } }"""
LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
FOLLOW_UP_TIMEOUT_S = 600  # a sensor tick (30 s), then the follow-up runs, each a fresh process
STEP_FAILURES = """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection {
  events { __typename ... on ExecutionStepFailureEvent { stepKey failureMetadata { description } } } } } }"""


@pytest.fixture
def source_ends_mid_day(qa_home, spot_file_drop, monkeypatch) -> Path:
    """The drop's bars stop at 18:00 on 2025-10-07, as a download made that evening would."""
    import polars as pl

    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)
    path = spot_file_drop / "binance_spot_5m.parquet"
    bars = pl.read_parquet(path)
    bars.filter(pl.col("ts") < pl.lit(SOURCE_END).str.to_datetime(time_zone="UTC")).write_parquet(path)
    return qa_home


@pytest.mark.slow
def test_a_ui_backfill_with_a_bad_day_shows_the_good_days_materialized_and_the_bad_day_not(source_ends_mid_day, tmp_path):
    shots = artifacts_dir("dagster-ui-bad-day")
    log = tmp_path / "dev.log"
    good = {p for p in BACKFILLED if p.day.isoformat() == FIRST_DAY}
    bad = BACKFILLED - good

    with _dagster_ui(log) as (url, page):
        page.goto(f"{url}/assets/{BARS_ASSET}?view=partitions")
        _dismiss_community_dialog(page, url)
        backfill_id = _launch_backfill(page, url, shots)
        backfill = _finished_backfill(url, backfill_id, log)
        # One run per day (2 of 3 symbols): the good day's succeeded, the bad day's failed.
        by_day = {min(_range_partitions({t["key"]: t["value"] for t in r["tags"]})).day.isoformat(): r for r in backfill["runs"]}
        assert {day: r["status"] for day, r in by_day.items()} == {FIRST_DAY: "SUCCESS", LAST_DAY: "FAILURE"}, backfill

        # GraphQL: the good day's partitions materialized, the bad day's failed, never materialized.
        stats = graphql(url, STATS, {"key": KEY})["assetNodes"][0]["partitionStats"]
        assert stats == {"numMaterialized": len(good), "numFailed": len(bad), "numMaterializing": 0}, stats
        events = graphql(url, MATERIALIZATIONS, {"key": KEY})["assetOrError"]["assetMaterializations"]
        assert {DaySymbol.parse(e["partition"]) for e in events} == good
        # The reason, one click from the failed partition: the run's step failure names it.
        failures = [
            e
            for e in graphql(url, STEP_FAILURES, {"id": by_day[LAST_DAY]["runId"]})["logsForRun"]["events"]
            if e["__typename"] == "ExecutionStepFailureEvent"
        ]
        (reason,) = [e["failureMetadata"]["description"] for e in failures if e["stepKey"] == BARS_ASSET]
        for part in bad:
            assert f"{part} not yet available: bars_complete: source ends at {SOURCE_END} UTC" in reason, reason

        # The partition view a person sees: 2 materialized, 2 failed; the bad partition failed.
        page.goto(f"{url}/assets/{BARS_ASSET}?view=partitions")
        _shown(page.get_by_text(f"Materialized ({len(good)})", exact=True))
        _shown(page.get_by_text(f"Failed ({len(bad)})", exact=True))
        screenshot(page, shots, "02-partitions-good-and-bad")
        page.goto(f"{url}/assets/{BARS_ASSET}?view=partitions&partition={max(bad)}")
        _shown(page.get_by_title(str(max(bad)), exact=True))
        # "Run <id> failed, and did not materialize this asset." with View logs: the reason above.
        _shown(page.get_by_text("failed, and did not materialize this asset."))
        _shown(page.get_by_role("link", name=by_day[LAST_DAY]["runId"][:8], exact=True))
        _shown(page.get_by_role("button", name="View all historical events (0)"))  # never materialized
        screenshot(page, shots, "03-bad-partition-failed")

        # A backfill of bars and their features over every symbol: the held-back partitions
        # fail the run, and the partial_follow_up sensor, with no person, requests the features
        # of the partitions that were published, never of the held ones.
        every = {DaySymbol(date.fromisoformat(d), s) for d in (FIRST_DAY, LAST_DAY) for s in settings.universe()}
        held = {p for p in every if p.day.isoformat() == LAST_DAY}  # the drop ends at 18:00 for every symbol
        params = {
            "assetSelection": [KEY, {"path": [FEATURES]}],
            "partitionNames": sorted(str(p) for p in every),
            "fromFailure": False,
        }
        launched = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        _finished_backfill(url, launched["backfillId"], log)
        featured = _materialized_when(url, FEATURES, every - held)
        assert featured == every - held  # the 3 published ones, none of the 3 held back

    lake = ParquetLake(settings.home().lake)
    assert set(lake.partitions(BARS_ASSET)) == every - held
    assert set(lake.quarantined(BARS_ASSET)) == held
    assert set(lake.partitions(FEATURES)) == every - held
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "02-partitions-good-and-bad.png", "03-bad-partition-failed.png", "04-backfill-dialog.png",
    ]  # fmt: skip


def _materialized_when(url: str, asset: str, expected: set[DaySymbol]) -> set[DaySymbol]:
    """The partitions of ``asset`` Dagster shows materialized, once they are ``expected`` (or
    after FOLLOW_UP_TIMEOUT_S, whatever they are then)."""
    deadline = time.time() + FOLLOW_UP_TIMEOUT_S
    while True:
        events = graphql(url, MATERIALIZATIONS, {"key": {"path": [asset]}})["assetOrError"]
        found = {DaySymbol.parse(e["partition"]) for e in (events or {}).get("assetMaterializations", [])}
        if found == expected or time.time() > deadline:
            return found
        time.sleep(3)
