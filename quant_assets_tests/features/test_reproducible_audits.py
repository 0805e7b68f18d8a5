"""Reproducible audits: recorded input hashes, "inputs changed since build", a fresh seed per
audit (``--seed`` reproduces it), and the exit codes of ``quant-assets audit``."""

from __future__ import annotations

import re
import shutil
from datetime import date, datetime, timezone

import polars as pl
import pytest

from quant_assets.features.audit import choose_samples
from quant_assets.features.contract import FEATURES_ASSET
from quant_assets.features.inputs import UPSTREAM
from quant_assets.features.lake_io import read_partition, recorded_hashes
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol
from quant_assets_tests.features import feature_location, realdata
from quant_assets_tests.features.test_planted_leaks import audit_cli

RUN = (date(2025, 10, 6), date(2025, 10, 7))
PART = DaySymbol(date(2025, 10, 7), "BTC-USDT")
AHEAD = DaySymbol(date(2025, 10, 8), "BTC-USDT")  # derivatives day D+1 of PART
MIDNIGHT = datetime(2025, 10, 8, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def built(tmp_path_factory, instance):
    """Features of RUN built while day D+1's derivatives held only what was known at
    midnight (the funding stamped then), as when the day's features are built at 00:05."""

    def known_at_midnight(store):
        for symbol in realdata.SYMBOLS:
            part = DaySymbol(AHEAD.day, symbol)
            store.write("derivatives", part, store.read("derivatives", part).filter(pl.col("available_at") <= MIDNIGHT))

    return feature_location.built_lake(str(tmp_path_factory.mktemp("reproducible") / "lake"), RUN, instance, known_at_midnight)


@pytest.fixture
def lake(built, tmp_path) -> str:
    return feature_location.copy_lake(built, tmp_path)


def _full_day_ahead(lake: str) -> None:
    """Day D+1's derivatives as they are at the end of D+1 (from the untouched fixture)."""
    rows = realdata.derivatives(["BTC-USDT"]).filter(pl.col("event_time").dt.date() == AHEAD.day)
    ParquetLake(lake).write("derivatives", AHEAD, rows.drop("symbol"))


def _edit(lake: str, asset: str, part: DaySymbol, change) -> None:
    store = ParquetLake(lake)
    store.write(asset, part, change(store.read(asset, part)))


def test_each_partition_records_the_hash_of_every_upstream_day_it_read(lake):
    store = ParquetLake(lake)
    _, kv = read_partition(store, PART)
    hashes = recorded_hashes(kv)
    assert {a: sorted(h) for a, h in hashes.items()} == {
        "market_bars": ["2025-10-06", "2025-10-07"],
        "derivatives": ["2025-10-06", "2025-10-07", "2025-10-08"],
        "text_latents": ["2025-10-06", "2025-10-07"],
    }
    # a day of the partition or before: the stored file's SHA-256
    assert hashes["market_bars"]["2025-10-07"] == store.file_sha256("market_bars", PART)
    assert set(UPSTREAM) == set(hashes)


def test_an_upstream_day_rewritten_after_the_build_is_inputs_changed_not_a_leak(lake):
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT", "--strict")
    assert code == 0, output

    # one bar of D corrected upstream after the features were built
    _edit(
        lake,
        "market_bars",
        PART,
        lambda f: f.with_columns(close=pl.when(pl.int_range(pl.len()) == 100).then(pl.col("close") * 1.01).otherwise(pl.col("close"))),
    )
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT")
    assert code == 0, output  # not a violation...
    line = next(x for x in output.splitlines() if x.startswith(str(PART)))
    assert "INPUTS_CHANGED" in line and "market_bars 2025-10-07 content differs" in line and "recomputed=0" in line
    assert "FAIL" not in output and "[prefix_invariance]" not in output and "[asof_inputs]" not in output
    assert "2025-10-06|BTC-USDT  rows=288 recomputed=5  OK" in output  # ...and not a pass either
    assert "1 with inputs changed since build" in output
    code, _ = audit_cli(lake, RUN, "--symbols", "BTC-USDT", "--strict")
    assert code == 3


def test_records_landing_after_the_build_in_the_day_ahead_change_nothing_it_could_see(lake):
    _full_day_ahead(lake)  # the rest of D+1: all of it available after D's last decision time
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT", "--strict", "--sample", "all")
    assert code == 0, output
    assert f"{PART}  rows=288 recomputed=288  OK" in output

    # the midnight funding itself revised: that is a change the partition could see
    _edit(
        lake,
        "derivatives",
        AHEAD,
        lambda f: f.with_columns(value=pl.when(pl.col("available_at") == MIDNIGHT).then(pl.col("value") * 2).otherwise(pl.col("value"))),
    )
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT", "--strict")
    assert code == 3, output
    assert "derivatives 2025-10-08 content differs" in output


def test_a_mapped_day_absent_at_the_build_and_present_now_is_inputs_changed(lake):
    store = ParquetLake(lake)
    shutil.rmtree(store.partition_dir("derivatives", AHEAD))
    (result,) = feature_location.run_features(lake, (PART.day, PART.day), [PART.symbol])
    assert all(ev.passed for ev in result.get_asset_check_evaluations())
    _, kv = read_partition(store, PART)
    assert "2025-10-08" not in recorded_hashes(kv)["derivatives"]
    _full_day_ahead(lake)
    code, output = audit_cli(lake, (PART.day, PART.day), "--symbols", PART.symbol, "--strict")
    assert code == 3 and "derivatives 2025-10-08 new since build" in output


def _seed_and_rows(output: str) -> int:
    return int(re.search(r"seed (\d+)", output).group(1))


def test_each_audit_draws_a_fresh_seed_and_seed_reproduces_it(lake):
    seeds = [_seed_and_rows(audit_cli(lake, RUN, "--symbols", "BTC-USDT")[1]) for _ in range(3)]
    assert len(set(seeds)) == 3
    times = read_partition(ParquetLake(lake), PART)[0]["t"].to_list()
    reached = {tuple(choose_samples(PART, times, 3, s)) for s in seeds}
    assert len(reached) == 3  # different rows, not only different numbers
    code, output = audit_cli(lake, RUN, "--symbols", "BTC-USDT", "--seed", str(seeds[0]))
    assert code == 0 and _seed_and_rows(output) == seeds[0]


@pytest.mark.parametrize(
    "args, code, says",
    [
        (("--symbols", "BTC/USDT"), 0, "0 violations"),
        (("--symbols", "BTCUSDT"), 2, "is not of the form BASE-QUOTE"),
        (("--symbols", "DOGE-USDT"), 2, "nothing to audit"),
        (("--sample", "some"), 2, "an integer >= 0 or 'all'"),
    ],
)
def test_exit_codes(lake, args, code, says):
    got, output = audit_cli(lake, RUN, *args)
    assert (got, says in output) == (code, True), output


def test_exit_codes_for_the_range_and_the_asset(lake):
    from click.testing import CliRunner

    from quant_assets.cli import main

    def run(*args):
        return CliRunner().invoke(main, ["audit", "--lake", lake, *args])

    result = run("--asset", FEATURES_ASSET, "--start", "2025-10-07", "--end", "2025-10-06")
    assert result.exit_code == 2 and "before --start" in result.output
    result = run("--asset", FEATURES_ASSET, "--start", "2024-01-01", "--end", "2024-01-31")
    assert result.exit_code == 2 and "nothing to audit" in result.output
    result = run("--asset", "market_bars", "--start", "2025-10-06", "--end", "2025-10-06")
    assert result.exit_code == 2 and "no audit is defined" in result.output


def test_blocking_checks_rerun_after_an_upstream_change_cannot_pass_and_say_why(lake, instance):
    """The checks that recompute from the inputs cannot vouch for a partition whose inputs
    are no longer the build's; the others still judge the stored rows. Each run draws its
    own seed and records it."""
    before = feature_location.run_checks(lake, PART, instance)
    assert all(ev.passed for ev in before.values())
    _edit(lake, "text_latents", PART, lambda f: f.with_columns(post_count=pl.col("post_count") + 1))
    after = feature_location.run_checks(lake, PART, instance)
    for name in ("asof_inputs", "prefix_invariance"):
        ev = after[f"feature_matrix_{name}"]
        assert not ev.passed and "inputs changed since build, not verified" in ev.description
        assert "text_latents 2025-10-07 content differs" in ev.description
    assert all(after[f"feature_matrix_{c}"].passed for c in ("contract", "no_forward_columns", "asof", "missing_policy"))
    seeds = {ev.metadata["prefix_seed"].value for ev in (before["feature_matrix_contract"], after["feature_matrix_contract"])}
    assert len(seeds) == 2
