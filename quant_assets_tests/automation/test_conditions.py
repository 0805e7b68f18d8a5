"""The downstream assets' automation conditions on the code location's own asset graph.

The graph is the real one (keys, partitions, partition mappings, automation conditions) with
each asset's data work replaced by a no-op (``condition_ticks.stand_ins``), so what is asserted is exactly
which partitions Dagster's daemon would request, tick by tick: ``evaluate_automation_conditions``
runs at fixed evaluation times against an instance, and what a tick requests is then run
(grouped roughly as the daemon groups it) before the next tick.
"""

from datetime import date

import pytest
from dagster import Definitions, evaluate_automation_conditions

from quant_assets.automation import conditions
from quant_assets.labels.horizons import LOOKAHEAD_DAYS
from quant_assets_tests.automation.condition_ticks import all_requested, definitions, keys, report, requested, stand_ins, utc, walk

SOURCES = ["market_bars", "derivatives"]
TEXT = ["social_text", "text_embeddings", "text_latents"]
DOWNSTREAM = ["text_embeddings", "text_latents", "feature_matrix", "labels", "multi_horizon_model", "oos_eval", "gate_verdict"]
FIRST = date(2025, 10, 1)  # conftest's QUANT_ASSETS_START_DATE
YESTERDAY, TODAY = date(2025, 10, 19), date(2025, 10, 20)
# Labels of D read bars D..D+7: a new day Y of bars changes the labels of Y-7..Y.
LABELS_OF_YESTERDAY = date(2025, 10, 19 - LOOKAHEAD_DAYS)


@pytest.fixture(scope="module")
def stand_in_graph(tmp_path_factory):
    """The code location's asset graph as stand-ins, built once for the module."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("QUANT_ASSETS_HOME", str(tmp_path_factory.mktemp("home")))
        assets = stand_ins(definitions())
    return Definitions(assets=assets), assets


@pytest.fixture
def graph(stand_in_graph, fresh_instance):
    """The graph with everything materialized for 10-01..10-19, after the conditions' first tick."""
    defs, assets = stand_in_graph
    report(fresh_instance, SOURCES + TEXT + DOWNSTREAM, FIRST, YESTERDAY)
    first = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 20, 0, 5))
    return defs, assets, fresh_instance, first


def test_a_quiet_graph_requests_nothing_tick_after_tick(graph):
    defs, _, instance, first = graph
    assert first.total_requested == 0  # history is not replayed when the conditions are first applied
    # The day rolled over at 00:00 (today's partitions are new and missing), but no parent
    # changed: nothing runs before the day's data has arrived.
    again = evaluate_automation_conditions(defs, instance, evaluation_time=utc(2025, 10, 20, 0, 9), cursor=first.cursor)
    assert again.total_requested == 0


def test_a_closed_day_flows_through_the_whole_graph_within_the_lookbacks(graph):
    defs, assets, instance, first = graph
    report(instance, SOURCES, YESTERDAY, YESTERDAY)  # the daily run of 10-19, at 00:10
    ticks = walk(defs, assets, instance, first.cursor, utc(2025, 10, 20, 0, 15))

    assert ticks[0].total_requested > 0 and ticks[-1].total_requested == 0  # it settles
    assert all_requested(ticks, "labels") == keys(LABELS_OF_YESTERDAY, YESTERDAY)
    # features of D read bars D-1..D and derivatives D-1..D+1; today's wait for today's bars
    assert all_requested(ticks, "feature_matrix") == keys(date(2025, 10, 18), YESTERDAY)
    # today's model once the last day of its fit window has new labels; the weekly anchor
    # decides inside the asset whether that is a refit or the reuse of the week's fit
    assert all_requested(ticks, "multi_horizon_model") == keys(TODAY, TODAY)
    assert all_requested(ticks, "oos_eval") == keys(LABELS_OF_YESTERDAY, YESTERDAY)
    # the newest verdicts only (yesterday's, and today's with today's model): a verdict judges
    # its window as complete by now, so older days' re-runs would add nothing
    assert all_requested(ticks, "gate_verdict") == keys(YESTERDAY, TODAY)
    assert not all_requested(ticks, "text_embeddings") and not all_requested(ticks, "text_latents")
    # Nothing older than the lookbacks, however far back the mappings reach (the model reads
    # 96 days, the gate 60): 8 days of labels and evaluations are the most.
    earliest = min(k.split("|")[0] for t in ticks for a in DOWNSTREAM for k in requested(t, a))
    assert earliest == LABELS_OF_YESTERDAY.isoformat()


def test_an_intraday_refresh_of_today_redoes_only_what_reads_today(graph):
    defs, assets, instance, first = graph
    report(instance, SOURCES, TODAY, TODAY)  # a 13:00 refresh of today's partial partition
    ticks = walk(defs, assets, instance, first.cursor, utc(2025, 10, 20, 13, 1))
    assert all_requested(ticks, "labels") == keys(date(2025, 10, 20 - LOOKAHEAD_DAYS), TODAY)  # horizons fill in
    assert all_requested(ticks, "feature_matrix") == keys(YESTERDAY, TODAY)
    # a fit window ends 8 days before the day it serves: today's bars never refit a model
    assert not all_requested(ticks, "multi_horizon_model")
    # today's evaluation and verdict need today's model, which the night's labels bring
    assert all_requested(ticks, "oos_eval") == keys(date(2025, 10, 20 - LOOKAHEAD_DAYS), YESTERDAY)
    assert all_requested(ticks, "gate_verdict") == keys(YESTERDAY, YESTERDAY)  # today's waits for today's model


def test_new_text_reaches_the_latents_and_the_features(graph):
    defs, assets, instance, first = graph
    report(instance, ["social_text"], YESTERDAY, YESTERDAY)
    ticks = walk(defs, assets, instance, first.cursor, utc(2025, 10, 20, 0, 20))
    assert all_requested(ticks, "text_embeddings") == keys(YESTERDAY, YESTERDAY)
    assert all_requested(ticks, "text_latents") == keys(YESTERDAY, YESTERDAY)  # today has no text yet
    # features of 10-19 and 10-20 read the 10-19 latents; today's wait for today's bars
    assert all_requested(ticks, "feature_matrix") == keys(YESTERDAY, YESTERDAY)
    assert not all_requested(ticks, "labels")


def test_a_missing_day_of_bars_holds_back_features_but_not_labels(stand_in_graph, fresh_instance):
    defs, _ = stand_in_graph
    report(fresh_instance, TEXT + DOWNSTREAM, FIRST, YESTERDAY)
    report(fresh_instance, SOURCES, FIRST, date(2025, 10, 16))
    report(fresh_instance, ["derivatives"], date(2025, 10, 17), date(2025, 10, 17))  # no bars of 10-17
    first = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 20, 0, 5))
    report(fresh_instance, SOURCES, date(2025, 10, 18), YESTERDAY)
    tick = evaluate_automation_conditions(defs, fresh_instance, evaluation_time=utc(2025, 10, 20, 0, 15), cursor=first.cursor)
    # features of 10-18 read the missing 10-17 bars: held back until they arrive
    assert requested(tick, "feature_matrix") == keys(YESTERDAY, YESTERDAY)
    # labels record missing bars as missing and flagged, so they are redone regardless
    assert requested(tick, "labels") == keys(date(2025, 10, 12), YESTERDAY)


def test_lookbacks_follow_the_mappings_they_are_derived_from():
    assert conditions.LABEL_DAYS == LOOKAHEAD_DAYS + 2 == 9
    assert conditions.FEATURE_DAYS == 3  # derivatives of D+1 can be known at D's last row
