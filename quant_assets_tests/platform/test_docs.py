"""The documentation: the site under docs/ builds with ``mkdocs build --strict`` (a broken link
or anchor, or a page left out of the nav, fails), every page is in the nav, and the README stays
what a newcomer reads on a screen or two."""

from __future__ import annotations

import subprocess
import sys

import yaml

from quant_assets.settings import REPO_ROOT

DOCS = REPO_ROOT / "docs"
README_MAX_LINES = 200


def _nav_pages(items) -> list[str]:
    """The page files of an mkdocs nav, however deeply sections nest them."""
    pages = []
    for item in items:
        if isinstance(item, str):
            pages.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_the_docs_site_builds_strictly(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO_ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "index.html").exists() and (site / "settings" / "index.html").exists()


def test_every_docs_page_is_in_the_nav():
    config = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    in_nav = _nav_pages(config["nav"])
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert len(in_nav) == len(set(in_nav)), in_nav
    assert sorted(set(pages) - set(in_nav)) == [], "pages missing from the nav"
    assert sorted(set(in_nav) - set(pages)) == [], "nav entries without a page"


def test_the_readme_is_short_and_keeps_the_two_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
