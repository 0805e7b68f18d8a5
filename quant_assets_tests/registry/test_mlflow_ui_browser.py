"""Promotion by a person in the browser: headless Chromium (Debian's, driven by Playwright)
opens the MLflow UI that ``quant-assets mlflow`` serves on loopback, sets ``champion`` on
the challenger's version page (Aliases: the pencil -> champion -> Save aliases), and the MLflow
client sees the alias moved; ``quant-assets model rollback`` then undoes the browser's move.

Without Chromium or Playwright the test skips, except in CI, where that is a failure (see
``quant_assets_tests/browser.py``). Screenshots are kept in ``test-artifacts/mlflow-ui/``.
"""

import time
from datetime import date

from click.testing import CliRunner

from quant_assets.cli import main
from quant_assets.registry import aliases
from quant_assets.registry.names import CHALLENGER, CHAMPION, registered_name
from quant_assets.registry.store import MlflowStore
from quant_assets.registry.tracking import Tracking
from quant_assets_tests.browser import (
    UI_TIMEOUT_MS,
    PlaywrightTimeoutError,
    artifacts_dir,
    chromium_page,
    require_browser,
    screenshot,
)
from quant_assets_tests.registry.mlflow_server import served_mlflow_ui

NAME = registered_name("BTC-USDT", "4h")


def _aliases_of(client, version: str) -> set[str]:
    return set(client.get_model_version(NAME, version).aliases)


def _open_alias_dialog(page, shots):
    """Click the version's Aliases control until its dialog shows: the pencil "Edit aliases"
    (a version without aliases shows "Add" instead), which exists only once the version's
    aliases are loaded. On a busy machine the page may still re-render, and a click then
    opens nothing: click again."""
    dialog = page.get_by_role("dialog").filter(has_text="Add/Edit alias for model version 2")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        page.get_by_title("Edit aliases").click()
        try:
            dialog.wait_for(timeout=10_000)
            return dialog
        except PlaywrightTimeoutError:
            if time.monotonic() > deadline:
                shot = screenshot(page, shots, "no-alias-dialog")
                raise AssertionError(f"the alias dialog never opened; the page is in {shot}") from None


def test_a_person_sets_champion_in_the_mlflow_ui_and_the_registry_follows(qa_home, tmp_path):
    require_browser()
    shots = artifacts_dir("mlflow-ui")
    client = Tracking(MlflowStore.from_env()).client
    client.create_registered_model(NAME)
    for _ in range(2):
        client.create_model_version(NAME, (tmp_path / "artifacts").as_uri())
    aliases.promote(client, "BTC-USDT", "4h", version="1", force=True, reason="bootstrap", by="alice")
    aliases.mark_challenger(client, "BTC-USDT", "4h", "2", date(2025, 11, 10), ["lgbm"], "PASS evidence: ...")
    assert (_aliases_of(client, "1"), _aliases_of(client, "2")) == ({CHAMPION}, {CHALLENGER})

    with served_mlflow_ui() as url, chromium_page() as page:
        page.goto(f"{url}/#/models/{NAME}/versions/2")
        page.get_by_role("heading", name="Version 2").wait_for()
        dialog = _open_alias_dialog(page, shots)
        dialog.get_by_title(CHALLENGER).wait_for()  # the alias tags the version has, kept
        box = dialog.get_by_role("combobox")
        box.fill(CHAMPION)
        box.press("Enter")
        # the UI warns that the alias leaves version 1
        dialog.get_by_text(f'The "{CHAMPION}" alias is also being used on version 1').wait_for()
        dialog.get_by_role("button", name="Save aliases").click()
        dialog.wait_for(state="hidden")
        screenshot(page, shots, "version-2-champion")

    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == "2"
    assert (_aliases_of(client, "1"), _aliases_of(client, "2")) == (set(), {CHAMPION, CHALLENGER})
    # the browser's promotion is undone from the CLI: champion goes back to version 1
    result = CliRunner().invoke(main, ["model", "rollback", "--symbol", "BTC-USDT", "--horizon", "4h", "--by", "bob"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{NAME}: champion is version 1 again (was 2)"
    assert str(client.get_model_version_by_alias(NAME, CHAMPION).version) == "1"
