"""The Dagster webserver, started on loopback over this project's workspace, shows
market_bars, its partitions and its blocking checks through its GraphQL API.

The server runs in its own process group and is stopped by PID (SIGTERM, then SIGKILL),
so no child is left behind.
"""

import os
import sys
import time
from datetime import date

import pytest
import requests

from quant_assets.instance import prepare_dagster_home
from quant_assets.partitions import DaySymbol
from quant_assets.settings import REPO_ROOT
from quant_assets_tests.platform.processes import free_port, served

QUERY = """
{
  assetNodes(assetKeys: [{path: ["market_bars"]}]) {
    assetKey { path }
    groupName
    description
    partitionKeysByDimension { name partitionKeys }
    partitionStats { numMaterialized numPartitions }
    assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
  }
}
"""


@pytest.fixture
def webserver(qa_home, spot_file_drop, tmp_path, monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_PG_URL", raising=False)
    prepare_dagster_home()

    # Materialize two partitions first, into the same instance the server will read.
    from quant_assets.definitions import build_definitions
    from quant_assets.instance import get_instance
    from quant_assets.runs import materialize

    parts = [DaySymbol(date(2025, 10, 6), "BTC-USDT"), DaySymbol(date(2025, 10, 7), "BTC-USDT")]
    with get_instance() as instance:
        assert all(r.success for r in materialize(build_definitions(), ["market_bars"], parts, ["BTC-USDT"], instance))

    port = free_port()
    command = [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    with served(command, port, tmp_path / "webserver.log", os.environ.copy()) as url:  # stopped by PID, the whole group
        yield url


def test_graphql_sees_market_bars_partitions_and_checks(webserver):
    # The code location loads in the background after the server answers; poll for it.
    deadline = time.time() + 90
    while True:
        reply = requests.post(f"{webserver}/graphql", json={"query": QUERY}, timeout=30).json()
        nodes = (reply.get("data") or {}).get("assetNodes") or []
        if nodes or time.time() > deadline:
            break
        time.sleep(1)
    assert nodes, reply
    node = nodes[0]
    assert node["groupName"] == "market"
    assert "available_at" in node["description"]
    dims = {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]}
    assert dims["symbol"] == ["BTC-USDT", "ETH-USDT", "SOL-USDT"]
    assert dims["date"][0] == "2025-10-01"
    assert node["partitionStats"]["numMaterialized"] == 2
    checks = {c["name"]: c["blocking"] for c in node["assetChecksOrError"]["checks"]}
    assert {"bars_unique", "bars_complete", "bars_ohlc_sane", "bars_on_grid", "bars_sorted", "bars_schema"} <= set(checks)
    assert all(checks.values())
