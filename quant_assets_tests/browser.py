"""Headless Chromium for the UI tests: Debian's chromium (``/usr/bin/chromium``) driven by
Playwright, no browser download, and screenshots kept as test artefacts.

Without Chromium or Playwright a browser test skips, except in CI (CI set), where that is a
failure: ``scripts/bootstrap.sh`` installs chromium and the ``test`` extra has playwright.

Screenshots go to ``$QUANT_ASSETS_TEST_ARTIFACTS/<test's folder>/`` (default: the repository's
``test-artifacts/``, which git ignores), so a person or CI can look at what the browser saw.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from quant_assets.settings import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
UI_TIMEOUT_MS = 120_000  # seconds on a quiet machine; a busy one serves the first page slowly
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

try:
    from playwright.sync_api import Page, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError as err:  # said by require_browser, a failure in CI
    Page = sync_playwright = PlaywrightTimeoutError = None
    NO_PLAYWRIGHT = f"playwright is not installed ({err})"
else:
    NO_PLAYWRIGHT = None


def require_browser() -> None:
    """Skip without a browser, except in CI, where a missing browser fails the test."""
    problem = NO_PLAYWRIGHT or (None if CHROMIUM.exists() else f"no Chromium at {CHROMIUM} (Debian package chromium)")
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {problem}; scripts/bootstrap.sh installs it")
        pytest.skip(problem)


@contextmanager
def chromium_page(width: int = 1400, height: int = 900) -> Iterator[Page]:
    """One page of a headless Chromium, closed on exit whatever happened."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def artifacts_dir(name: str) -> Path:
    """The folder a test's screenshots are kept in, emptied of an earlier run's PNGs so that
    every picture there is this run's."""
    root = Path(os.environ.get("QUANT_ASSETS_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


def screenshot(page: Page, folder: Path, name: str) -> Path:
    """``folder/name.png`` of the whole page; fails if Chromium wrote no image, or one of an
    empty page (a blank 1400x900 page is under 6 kB, a rendered Dagster or MLflow page 40 kB+)."""
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, f"{path}: not a screenshot ({len(data)} bytes)"
    return path
