"""market_bars materialized with the Dagster instance on the machine's real PostgreSQL
(a database of its own: the ``pg_database`` fixture in the root conftest)."""

from datetime import date

import psycopg2

from quant_assets.instance import get_instance
from quant_assets.partitions import DaySymbol
from quant_assets.runs import materialize


def test_market_bars_on_postgres_instance(qa_home, pg_database, spot_file_drop, monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_PG_URL", pg_database)
    from quant_assets.definitions import build_definitions

    parts = [DaySymbol(date(2025, 10, d), s) for d in (5, 6) for s in ("BTC-USDT", "ETH-USDT")]
    instance = get_instance()
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        results = materialize(build_definitions(), ["market_bars"], parts, ["BTC-USDT", "ETH-USDT", "SOL-USDT"], instance)
        assert [r.success for r in results] == [True]
        # Read back from PostgreSQL, not from the in-memory result.
        from dagster import AssetKey

        stored = instance.get_materialized_partitions(AssetKey("market_bars"))
        assert stored == {str(p) for p in parts}
        record = instance.get_latest_materialization_event(AssetKey("market_bars"))
        assert record.asset_materialization.metadata["rows"].value == 288
        checks = {e.check_name: e.passed for r in results for e in r.get_asset_check_evaluations()}
        assert checks and all(checks.values())
    finally:
        instance.dispose()

    with psycopg2.connect(pg_database.replace("postgresql+psycopg2://", "postgresql://")) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from event_logs where dagster_event_type = 'ASSET_MATERIALIZATION'")
        assert cur.fetchone()[0] == len(parts)
