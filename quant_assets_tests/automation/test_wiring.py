"""What the daemon finds in the code location: the continuous-run pieces, on from the start,
next to the trading sensors that were there before."""

from dagster import DefaultScheduleStatus, DefaultSensorStatus

from quant_assets_tests.automation.condition_ticks import definitions


def test_the_daemon_runs_the_schedules_the_inbox_and_the_conditions_with_no_toggle(qa_home, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "ccxt")
    defs = definitions()
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {"paper_trading_sensor", "live_trading_sensor", "bundle_inbox", "downstream_automation", "partial_follow_up"}
    assert sensors["live_trading_sensor"].default_status == DefaultSensorStatus.STOPPED  # never switched on by the system
    for name in ("paper_trading_sensor", "bundle_inbox", "downstream_automation", "partial_follow_up"):
        assert sensors[name].default_status == DefaultSensorStatus.RUNNING, name
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"daily_sources", "intraday_sources"}
    assert all(s.default_status == DefaultScheduleStatus.RUNNING and s.execution_timezone == "UTC" for s in schedules.values())
    # every asset with a condition is evaluated by the one running sensor
    graph = defs.resolve_asset_graph()
    conditioned = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None}
    assert conditioned and conditioned <= sensors["downstream_automation"].asset_selection.resolve(graph)
    assert {k.to_user_string() for k in conditioned} == {
        "text_embeddings", "text_latents", "feature_matrix", "labels", "multi_horizon_model", "oos_eval", "gate_verdict",
        "trading_book",  # on a cron condition: each day's book shortly after the day closes
    }  # fmt: skip
