"""The leakage gate's reading of the Dagster instance: the run that last wrote a partition
vouches for it with its blocking checks. Text never collected (no partition at all) is not
a leak; a text partition that failed its check is, and so is an absent partition of any
other input."""

from datetime import date

from dagster import AssetCheckResult, BackfillPolicy, asset, asset_check, materialize

from quant_assets.assets.gate import BOTH, _failing
from quant_assets.assets.upstream_checks import UpstreamChecks
from quant_assets.market.bars import BARS_ASSET
from quant_assets.partitions import DaySymbol, daily_symbol_partitions
from quant_assets.social.text import SOCIAL_TEXT_ASSET

SYMBOL = "BTC-USDT"
GOOD, BAD, NEVER = (DaySymbol(date(2025, 11, d), SYMBOL) for d in (3, 4, 5))


def _text_asset(passes: bool):
    @asset(name=SOCIAL_TEXT_ASSET, partitions_def=daily_symbol_partitions(), backfill_policy=BackfillPolicy.single_run())
    def social_text() -> None:
        pass

    @asset_check(asset=SOCIAL_TEXT_ASSET, blocking=True, name="planted")
    def planted() -> AssetCheckResult:
        return AssetCheckResult(passed=passes)

    return [social_text], [planted]


def _materialize(instance, part: DaySymbol, passes: bool) -> None:
    assets, checks = _text_asset(passes)
    materialize([*assets, *checks], instance=instance, partition_key=part.dagster_key, raise_on_error=False)


def test_absent_text_is_no_leak_but_failed_text_and_absent_bars_are(fresh_instance):
    _materialize(fresh_instance, GOOD, True)
    _materialize(fresh_instance, BAD, False)
    parts = [GOOD, BAD, NEVER]

    strict = UpstreamChecks(fresh_instance).failing([SOCIAL_TEXT_ASSET], parts)
    assert [line.split(" (run")[0] for line in strict] == [
        f"{SOCIAL_TEXT_ASSET} {BAD}: planted failed",
        f"{SOCIAL_TEXT_ASSET} {NEVER}: not materialized",
    ]
    lenient = UpstreamChecks(fresh_instance).failing([SOCIAL_TEXT_ASSET], parts, absent_ok=True)
    assert [line.split(" (run")[0] for line in lenient] == [f"{SOCIAL_TEXT_ASSET} {BAD}: planted failed"]

    # The gate applies the leniency to the text assets only.
    assert _failing(UpstreamChecks(fresh_instance), {SOCIAL_TEXT_ASSET: BOTH, BARS_ASSET: BOTH}, NEVER, {}) == [
        f"{BARS_ASSET} {NEVER}: not materialized"
    ]
    assert [line.split(" (run")[0] for line in _failing(UpstreamChecks(fresh_instance), {SOCIAL_TEXT_ASSET: BOTH}, BAD, {})] == [
        f"{SOCIAL_TEXT_ASSET} {BAD}: planted failed"
    ]


def test_the_newest_writer_vouches_when_many_partitions_are_read_at_once_and_paged(fresh_instance, monkeypatch):
    from quant_assets.assets import upstream_checks

    _materialize(fresh_instance, GOOD, True)
    _materialize(fresh_instance, BAD, False)
    _materialize(fresh_instance, GOOD, False)  # rewritten by a run whose check failed
    _materialize(fresh_instance, BAD, True)  # rewritten by a run whose check passed
    monkeypatch.setattr(upstream_checks, "WRITERS_PAGE", 1)  # one record per page: the cursor is followed

    failing = UpstreamChecks(fresh_instance).failing([SOCIAL_TEXT_ASSET], [GOOD, BAD, NEVER])
    assert [line.split(" (run")[0] for line in failing] == [
        f"{SOCIAL_TEXT_ASSET} {GOOD}: planted failed",
        f"{SOCIAL_TEXT_ASSET} {NEVER}: not materialized",
    ]
