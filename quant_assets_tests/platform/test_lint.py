"""Lint and format: ``ruff check`` and ``ruff format --check`` pass over the tree that
``[tool.ruff]`` in pyproject.toml names (quant_assets, serving, the tests, benchmarks, scripts),
with the ruff the test extra pins, so a long line or an unsorted import fails CI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from quant_assets.settings import REPO_ROOT

RUFF = Path(sys.executable).parent / "ruff"


def _ruff(*args: str) -> subprocess.CompletedProcess:
    assert RUFF.exists(), f"no ruff beside {sys.executable}: install the test extra (pip install -e '.[test]')"
    # --no-cache: the tests write nothing into the checkout; the config is pyproject.toml's.
    return subprocess.run([str(RUFF), *args, "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_passes():
    proc = _ruff("check", "--output-format", "concise")
    assert proc.returncode == 0, f"ruff check found problems:\n{proc.stdout}{proc.stderr}"


def test_ruff_format_leaves_every_file_unchanged():
    """Passes once the whole tree has been through ``ruff format`` (issue 17's lint step runs it
    once over the tree after merging); from then on every change must keep it formatted."""
    proc = _ruff("format", "--check", "--output-format", "concise")
    assert proc.returncode == 0, f"run `ruff format` over the tree; ruff format --check:\n{proc.stdout}{proc.stderr}"
