"""The follow-up sensor: a run that held a partition back (as a UI backfill, a schedule or the
automation sensor launches it) is followed, with no person, by a request for the assets it
skipped, over the partitions that were published, and never the held one."""

from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DagsterInstance, build_run_status_sensor_context

from quant_assets.automation.follow_up import FOLLOW_UP_SENSOR, FOLLOWS_TAG, partial_follow_up
from quant_assets.runs import PartitionRange
from quant_assets_tests.assets.test_market_bars import DAYS, PLANTED, _plant, _run
from quant_assets_tests.assets.test_write_audit_publish import BAD


def _evaluate(instance, result):
    (failure,) = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.RUN_FAILURE).records
    context = build_run_status_sensor_context(
        FOLLOW_UP_SENSOR, failure.event_log_entry.dagster_event, instance, instance.get_run_by_id(result.run_id)
    )
    return partial_follow_up(context)


def test_a_run_that_held_a_partition_back_is_followed_by_its_skipped_assets_on_the_rest(qa_home, drop_folder):
    _plant(drop_folder, PLANTED["nan"][1])
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", drop_folder, instance, with_probe=True)
        assert not result.success and not result.asset_materializations_for_node("downstream_probe")
        requests = _evaluate(instance, result)
    covered = set(DAYS.parts(["BTC-USDT", "ETH-USDT", "SOL-USDT"]))
    requested = set()
    for request in requests:
        assert request.asset_selection == [AssetKey("downstream_probe")]
        assert request.tags[FOLLOWS_TAG] == result.run_id
        requested |= set(PartitionRange.of_run(request.tags).parts(["BTC-USDT", "ETH-USDT", "SOL-USDT"]))
    assert requested == covered - {BAD}


def test_a_run_that_failed_for_another_reason_is_left_for_a_person(qa_home, drop_folder):
    (drop_folder / "spot.parquet").unlink()  # the source itself fails: not a held-back partition
    with DagsterInstance.ephemeral() as instance:
        result = _run(qa_home / "lake", drop_folder, instance, with_probe=True)
        assert not result.success
        skipped = _evaluate(instance, result)
    assert "nothing to follow up" in skipped.skip_message
