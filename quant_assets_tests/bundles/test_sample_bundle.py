"""The shipped sample bundle: what it holds, that it verifies, and that the demo copes with
its text starting four months after its bars."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from quant_assets import settings
from quant_assets.bundles.coverage import downstream_steps, held_partitions
from quant_assets.bundles.export import write_bundle
from quant_assets.bundles.unpack import check_fits_settings, unpack
from quant_assets.cli.demo import SAMPLE_BUNDLE, _direct_deps
from quant_assets.definitions import build_definitions
from quant_assets.derivatives.frame import BASIS, FUNDING, MARK, STAT_METRICS
from quant_assets.features import contract
from quant_assets.lake.store import ParquetLake
from quant_assets.partitions import DaySymbol, days_between
from quant_assets_tests.bundles.archives import read_archive

SYMBOLS = settings.DEFAULT_SYMBOLS.split(",")
MARKET_FROM, TEXT_FROM, LAST = date(2025, 6, 1), date(2025, 10, 1), date(2025, 11, 30)
MAX_BYTES = 15_000_000


def _parts(first: date) -> set[DaySymbol]:
    return {DaySymbol(d, s) for d in days_between(first, LAST) for s in SYMBOLS}


@pytest.fixture(scope="module")
def unpacking(tmp_path_factory):
    """The sample, verified member by member and unpacked, exactly as an import does."""
    return unpack(SAMPLE_BUNDLE, tmp_path_factory.mktemp("sample") / "bundles")


def test_sample_holds_bars_and_derivatives_from_june_and_text_from_october(unpacking):
    manifest = unpacking.manifest
    assert manifest.assets == ["derivatives", "market_bars", "social_text"]
    assert set(manifest.partitions("market_bars")) == _parts(MARKET_FROM)
    assert set(manifest.partitions("derivatives")) == _parts(MARKET_FROM)
    # The Reddit scrape starts on 2025-09-29: before October there is no social_text
    # partition at all, because text never collected is unknown, not a day without posts.
    assert set(manifest.partitions("social_text")) == _parts(TEXT_FROM)
    assert all(f.rows == 288 for f in manifest.files if f.asset == "market_bars")


def test_sample_is_small_enough_to_ship():
    assert SAMPLE_BUNDLE.stat().st_size < MAX_BYTES


def test_default_first_partition_day_is_the_samples_first_day(unpacking):
    manifest = unpacking.manifest
    first = min(f.partition.day for f in manifest.files)
    assert date.fromisoformat(settings.DEFAULT_START_DATE) == first == MARKET_FROM
    check_fits_settings(manifest, SYMBOLS, first)  # the demo's defaults admit the whole sample


def test_sample_derivatives_have_funding_mark_and_basis_every_day_and_explicit_missing_stats(unpacking):
    rows = unpacking.bundle.lake.read_many("derivatives", sorted(_parts(MARKET_FROM)))
    per_day = (
        rows.with_columns(day=pl.col("event_time").dt.date())
        .group_by("symbol", "day", "metric")
        .agg(present=(~pl.col("is_missing")).sum(), missing=pl.col("is_missing").sum())
    )
    days = len(days_between(MARKET_FROM, LAST))
    for metric, present in ((FUNDING, 3), (MARK, 24), (BASIS, 24)):  # 8h funding, hourly mark
        got = per_day.filter(pl.col("metric") == metric)
        assert got.height == days * len(SYMBOLS), metric
        assert got["present"].min() == present and got["missing"].max() == 0, metric
    stats = per_day.filter(pl.col("metric").is_in(STAT_METRICS))
    assert stats.height == days * len(SYMBOLS) * len(STAT_METRICS)
    assert stats["present"].max() == 0 and stats["missing"].min() == 24


def test_demo_plans_text_assets_only_where_the_sample_has_text(unpacking):
    manifest = unpacking.manifest
    defs = build_definitions()
    rest = [k.to_user_string() for k in defs.resolve_all_asset_keys() if k.to_user_string() not in manifest.assets]
    steps = downstream_steps(rest, _direct_deps(defs, rest), held_partitions(manifest))
    covered = {a: set(parts) for names, parts in steps for a in names}
    assert covered["text_embeddings"] == covered["text_latents"] == _parts(TEXT_FROM)
    assert covered[contract.FEATURES_ASSET] == _parts(MARKET_FROM)


def _slice_of_sample(out, text_days: list[date], market_days: list[date], symbol: str):
    """A bundle cut from the shipped sample: bars and derivatives of ``market_days``, text of ``text_days``."""
    _, files = read_archive(SAMPLE_BUNDLE)
    wanted = {("social_text", d) for d in text_days} | {(a, d) for a in ("market_bars", "derivatives") for d in market_days}
    entries = [(asset, DaySymbol(day, symbol), files[f"lake/{asset}/date={day}/symbol={symbol}/part-0.parquet"]) for asset, day in sorted(wanted)]
    return write_bundle(out, entries)


def test_demo_and_audit_pass_when_text_starts_after_the_bars(qa_home, tmp_path, cli):
    """The sample's shape in two days (the tests' first partition day is 2025-10-01, and late
    November has few texts to embed): bars and derivatives on both, Reddit text on the second
    only. Import and demo succeed, text is computed only where it was collected, and the first
    day's text features are missing and flagged, never zero posts."""
    first, second = date(2025, 11, 28), date(2025, 11, 29)
    archive = tmp_path / "slice.tar.gz"
    _slice_of_sample(archive, [second], [first, second], "BTC-USDT")

    demo = cli("demo", "--bundle", archive)
    assert demo.exit_code == 0, demo.output
    audit = cli("audit", "--asset", contract.FEATURES_ASSET, "--start", first, "--end", second, "--symbols", "BTC-USDT")
    assert audit.exit_code == 0, audit.output

    lake = ParquetLake(str(qa_home / "lake"))
    with_text = [DaySymbol(second, "BTC-USDT")]
    assert lake.partitions("text_embeddings") == lake.partitions("text_latents") == with_text
    assert lake.partitions(contract.FEATURES_ASSET) == [DaySymbol(first, "BTC-USDT"), *with_text]
    flags = contract.FLAGS_BY_SOURCE["text"]
    before = lake.read(contract.FEATURES_ASSET, DaySymbol(first, "BTC-USDT"))
    assert before.height == 288
    assert before.select(pl.all_horizontal(flags)).to_series().all()
    assert before["text_post_count_24h"].null_count() == before.height  # unknown, not 0
    after = lake.read(contract.FEATURES_ASSET, with_text[0])
    assert (~after["text_1h_missing"]).any()  # text flows where it was collected
