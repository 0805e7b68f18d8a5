"""The house's import contracts hold: no circles, nothing climbing back up.

``lint-imports`` (import-linter) checks the contracts in ``pyproject.toml``'s
``[tool.importlinter]`` over this checkout; and it is shown able to fail: run against
contracts the code is known to break, it reports them broken, naming the import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from quant_assets.settings import REPO_ROOT

# The venv's own binary (the test extra installs import-linter beside pytest).
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = {
    "layers",
    "lake-names-no-domain",
    "domains-are-pure",
    "serving-above-the-model-half",
    "only-the-top-imports-serving",
    "serving-uses-no-data-glue",
    "no-circles-in-a-package",
}


def _lint(*args: str) -> subprocess.CompletedProcess:
    """``lint-imports`` over this checkout (not whatever copy the venv installed), uncached."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_house_keeps_its_import_contracts():
    declared = {c["id"] for c in tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]}
    assert declared >= CONTRACTS, f"contracts missing from pyproject.toml: {sorted(CONTRACTS - declared)}"
    result = _lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(declared)} kept, 0 broken." in result.stdout, result.stdout


# Contracts the code breaks on purpose: definitions.py imports the asset modules, and the CLI
# imports the lake (a layers contract upside down).
PLANTED = {
    "forbidden": """
[[tool.importlinter.contracts]]
name = "planted: definitions must not import the assets"
type = "forbidden"
source_modules = ["quant_assets.definitions"]
forbidden_modules = ["quant_assets.assets"]
""",
    "layers": """
[[tool.importlinter.contracts]]
name = "planted: the lake above the command line"
type = "layers"
layers = ["quant_assets.lake", "quant_assets.cli"]
""",
}


@pytest.mark.parametrize("kind", sorted(PLANTED))
def test_a_contract_the_code_breaks_is_reported_broken(tmp_path, kind):
    config = tmp_path / "planted.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["quant_assets", "serving"]\n' + PLANTED[kind])
    result = _lint("--config", str(config))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 1 broken." in result.stdout, result.stdout
    upward = ("quant_assets.definitions", "quant_assets.assets") if kind == "forbidden" else ("quant_assets.cli", "quant_assets.lake")
    named = "{} is not allowed to import {}".format(*upward)
    assert named in result.stdout, result.stdout
