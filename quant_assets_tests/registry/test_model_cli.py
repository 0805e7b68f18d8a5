"""``quant-assets model promote|rollback|status`` on a real MLflow registry in the test's home:
a person moves champion; a version without a passing verdict, or whose symbol's portfolio
verdict did not pass, needs --force and a reason; who and why are recorded; rollback restores
the previous champion and refuses when none."""

import json
import shutil
from datetime import date

import pytest
from click.testing import CliRunner
from mlflow.exceptions import MlflowException

from quant_assets.cli import main
from quant_assets.registry import aliases
from quant_assets.registry.names import CHALLENGER, CHAMPION, registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking

NAME = registered_name("BTC-USDT", "4h")


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """An MLflow store with its tables made (the migrations take seconds), copied per test."""
    home = tmp_path_factory.mktemp("mlflow-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUANT_ASSETS_HOME", str(home))
        Tracking(MlflowStore.from_env())
    return home / "mlflow"


@pytest.fixture
def client(qa_home, tmp_path, empty_store):
    """quant_assets.BTC-USDT.4h with versions 1..3; version 2 passed the gate (challenger), and
    the symbol's portfolio passed on the same day."""
    (qa_home / "mlflow").mkdir(parents=True)
    shutil.copy(empty_store / "mlflow.db", qa_home / "mlflow" / "mlflow.db")
    client = Tracking(MlflowStore.from_env()).client
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, (tmp_path / "artifacts").as_uri())
    aliases.mark_challenger(client, "BTC-USDT", "4h", "2", date(2025, 11, 10), ["lgbm"], "PASS evidence: ...\nPASS leakage: ...")
    aliases.mark_portfolio(client, "BTC-USDT", {"4h": "2"}, date(2025, 11, 10), True, "PASS evidence: ...")
    return client


def cli(*args):
    result = CliRunner().invoke(main, ["model", *args])
    return result.exit_code, result.output.strip()


def champion(client):
    try:
        return str(client.get_model_version_by_alias(NAME, CHAMPION).version)
    except MlflowException:
        return None


def test_a_version_without_a_passing_verdict_is_refused_unless_forced_with_a_reason(client):
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "1")
    assert code == 1 and out == f'Error: {NAME} version 1 has no passing gate verdict; promote it only with --force --reason "..."'
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "1", "--force")
    assert code == 1 and "--force needs --reason" in out and len(out.splitlines()) == 1
    assert champion(client) is None, "nothing moved on a refusal"
    code, out = cli(
        "promote", "--symbol", "BTC/USDT", "--horizon", "4h", "--version", "1", "--force", "--reason", "hotfix: v2 data late", "--by", "bob"
    )
    assert code == 0 and champion(client) == "1"
    tags = client.get_model_version(NAME, "1").tags
    assert (tags[aliases.PROMOTED_BY_TAG], tags[aliases.PROMOTED_REASON_TAG], tags[aliases.PROMOTED_FORCED_TAG]) == (
        "bob",
        "hotfix: v2 data late",
        "true",
    )


def test_promote_defaults_to_the_challenger_and_records_who_and_why(client):
    assert cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "3", "--force", "--reason", "bootstrap")[0] == 0
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--by", "alice", "--reason", "gate passed 2025-11-10")
    assert code == 0 and out == f"{NAME}: champion is version 2 (was 3)"
    assert champion(client) == "2" and str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "2"
    tags = client.get_model_version(NAME, "2").tags
    assert tags[aliases.PROMOTED_BY_TAG] == "alice" and tags[aliases.PROMOTED_FORCED_TAG] == "false" and tags[aliases.PROMOTED_AT_TAG]
    assert json.loads(client.get_registered_model(NAME).tags[aliases.HISTORY_TAG]) == ["3", "2"]


def test_rollback_restores_the_previous_champion_and_refuses_when_there_is_none(client):
    code, out = cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 1 and out == f"Error: {NAME}: no previous champion to roll back to (champion: none)"
    cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "1", "--force", "--reason", "first")
    cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h")  # the challenger, version 2
    cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "3", "--force", "--reason", "third")
    code, out = cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h", "--by", "carol")
    assert code == 0 and out == f"{NAME}: champion is version 2 again (was 3)" and champion(client) == "2"
    assert "carol" in client.get_registered_model(NAME).tags[aliases.ROLLED_BACK_TAG]
    assert cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")[0] == 0 and champion(client) == "1"
    code, out = cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 1 and out == f"Error: {NAME}: no previous champion to roll back to (champion: 1)" and champion(client) == "1"


def test_champion_moved_in_the_ui_is_rolled_back_by_the_cli(client):
    """The MLflow UI sets the alias directly (what set_registered_model_alias does); the CLI's
    history still returns to the champion before that move, and past it."""
    cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "1", "--force", "--reason", "first")
    client.set_registered_model_alias(NAME, CHAMPION, "3")  # a person, in the UI
    code, out = cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 0 and out == f"{NAME}: champion is version 1 again (was 3)" and champion(client) == "1"
    client.set_registered_model_alias(NAME, CHAMPION, "3")  # the UI again, then the CLI promotes over it
    assert cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h")[1] == f"{NAME}: champion is version 2 (was 3)"
    assert [cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")[1] for _ in range(2)] == [
        f"{NAME}: champion is version 3 again (was 2)",
        f"{NAME}: champion is version 1 again (was 3)",
    ]
    assert cli("rollback", "--symbol", "BTC-USDT", "--horizon", "4h")[0] == 1 and champion(client) == "1"


def test_unknown_models_and_versions_and_a_missing_challenger_are_one_line(client):
    code, out = cli("promote", "--symbol", "ETH-USDT", "--horizon", "4h")
    assert code == 1 and out == "Error: no registered model quant_assets.ETH-USDT.4h: no fit of ETH-USDT has been logged"
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "9", "--force", "--reason", "x")
    assert code == 1 and out == f"Error: {NAME}: there is no version 9"
    client.delete_registered_model_alias(NAME, CHALLENGER)
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 1 and out == f"Error: {NAME}: no challenger to promote (no passing gate verdict yet); name a --version"


def test_status_prints_champion_and_challenger_with_verdicts_and_ages(client):
    cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--version", "1", "--force", "--reason", "first")
    code, out = cli("status")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["symbol", "horizon", "champion", "verdict", "age", "challenger", "verdict", "portfolio", "age"]
    cells = row.split()
    assert cells[:3] == ["BTC-USDT", "4h", "v1"] and cells[3] == "none"  # forced: no verdict
    assert cells[cells.index("v2") : cells.index("v2") + 5] == ["v2", "PASS", "2025-11-10", "PASS", "2025-11-10"], (
        "challenger, its verdict, the portfolio's"
    )


def test_a_served_family_that_passed_while_the_portfolio_failed_is_not_promoted_without_force(client):
    aliases.mark_challenger(client, "BTC-USDT", "4h", "3", date(2025, 11, 11), ["lgbm"], "PASS evidence: ...")
    aliases.mark_portfolio(client, "BTC-USDT", {"4h": "3"}, date(2025, 11, 11), False, "FAIL performance: ...")
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 1 and out == (
        f"Error: {NAME} version 3: the BTC-USDT portfolio verdict failed (FAIL 2025-11-11): the combined book "
        'serving would trade has not passed; promote it only with --force --reason "..."'
    )
    assert champion(client) is None
    code, out = cli("status")
    assert "FAIL" in out.splitlines()[1].split(), "status shows the failed portfolio beside the challenger"
    assert cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h", "--force", "--reason", "portfolio cap too tight")[0] == 0
    assert champion(client) == "3" and client.get_model_version(NAME, "3").tags[aliases.PROMOTED_FORCED_TAG] == "true"


def test_a_version_without_a_portfolio_verdict_is_refused_too(client):
    aliases.mark_challenger(client, "BTC-USDT", "4h", "3", date(2025, 11, 11), ["lgbm"], "PASS evidence: ...")
    code, out = cli("promote", "--symbol", "BTC-USDT", "--horizon", "4h")
    assert code == 1 and "portfolio verdict is missing (none)" in out and champion(client) is None


def test_an_older_portfolio_verdict_does_not_overwrite_a_newer_one(client):
    assert aliases.mark_portfolio(client, "BTC-USDT", {"4h": "2"}, date(2025, 11, 9), False, "FAIL") == []
    assert client.get_model_version(NAME, "2").tags[aliases.PORTFOLIO_TAG] == "PASS"


def test_a_pass_on_an_older_day_does_not_pull_challenger_back(client):
    """The gate re-judges recent days as labels fill in: last week's fit passing on an older
    day must not take challenger from the version a newer day's verdict put it on."""
    assert not aliases.mark_challenger(client, "BTC-USDT", "4h", "1", date(2025, 11, 3), ["lgbm"], "PASS (re-judged)")
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "2"
    assert client.get_model_version(NAME, "1").tags[aliases.VERDICT_DAY_TAG] == "2025-11-03", "the pass is still recorded"
    assert not aliases.mark_challenger(client, "BTC-USDT", "4h", "3", date(2025, 11, 9), ["lgbm"], "PASS")
    assert aliases.mark_challenger(client, "BTC-USDT", "4h", "2", date(2025, 11, 8), ["lgbm"], "PASS (re-judged)")  # already on it
    assert client.get_model_version(NAME, "2").tags[aliases.VERDICT_DAY_TAG] == "2025-11-10", "a version keeps its newest day"
    assert aliases.mark_challenger(client, "BTC-USDT", "4h", "3", date(2025, 11, 11), ["lgbm"], "PASS")
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "3"
