"""Fixtures for bundle tests: a home whose universe fits the fixture, and a good bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from quant_assets.bundles.export import write_bundle
from quant_assets.bundles.unpack import verify_and_unpack
from quant_assets.cli import main
from quant_assets_tests.bundles.archives import SYMBOLS, bundle_entries, fill_lake


@pytest.fixture
def home(qa_home, monkeypatch) -> Path:
    """A fresh QUANT_ASSETS_HOME and Dagster home; the universe is the fixture's two symbols."""
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", ",".join(SYMBOLS))
    monkeypatch.setenv("QUANT_ASSETS_START_DATE", "2025-10-01")
    monkeypatch.delenv("QUANT_ASSETS_MARKET_SOURCE", raising=False)
    return qa_home


@pytest.fixture(params=["local", "s3"])
def place_lake(request, monkeypatch):
    """Where a home's lake goes, for tests that run on both stores: ``place(home)`` returns
    ``<home>/lake``, or a fresh prefix on the loopback S3 server with QUANT_ASSETS_LAKE_ROOT
    pointing at it (the bundle's unpacking and lock stay in the local home either way)."""
    if request.param == "local":

        def place(home: Path) -> str:
            monkeypatch.delenv("QUANT_ASSETS_LAKE_ROOT", raising=False)
            return str(home / "lake")

        return place
    s3 = request.getfixturevalue("use_s3")

    def place_on_s3(home: Path) -> str:
        root = f"{s3.fresh_prefix()}/lake"
        monkeypatch.setenv("QUANT_ASSETS_LAKE_ROOT", root)
        return root

    return place_on_s3


@pytest.fixture
def good_bundle(tmp_path):
    """A bundle of the fixture's four partitions, written by the real exporter."""
    path = tmp_path / "good.tar.gz"
    manifest = write_bundle(path, bundle_entries())
    return path, manifest


@pytest.fixture
def lived_in_home(home, good_bundle):
    """A home with a lake and an unpacked bundle already in it: what a refusal must not touch."""
    fill_lake(home / "lake")
    verify_and_unpack(good_bundle[0], home / "bundles")
    return home


@pytest.fixture
def cli():
    def invoke(*args: str):
        return CliRunner().invoke(main, [str(a) for a in args])

    return invoke
