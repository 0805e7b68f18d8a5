"""Versions of the code: the checkout's git commit (``code_version``), and a digest of the
source of some modules or packages (``source_digest``) that changes when that code does.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
from collections.abc import Iterable
from pathlib import Path

from quant_assets.settings.layout import REPO_ROOT


@functools.cache
def code_version() -> str:
    """The git commit of the checkout (``+dirty`` with uncommitted changes), else 'unknown'.

    For people reading a run; what decides whether a fit can be reused is the digest of the
    model code itself (``quant_assets.models.plan.code_digest``).
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if commit.returncode != 0:
        return "unknown"
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def source_files(root: Path, entries: Iterable[str]) -> list[Path]:
    """The source files of ``entries`` (relative to ``root``): a package's ``*.py``, or the module named."""
    return sorted({p for entry in entries for p in ((root / entry).glob("*.py") if (root / entry).is_dir() else [root / entry])})


def source_digest(root: Path, entries: Iterable[str]) -> str:
    """SHA-256 over the source of ``source_files(root, entries)``, committed or not: a version
    of that code which changes when it does (unlike :func:`code_version`, the checkout's)."""
    digest = hashlib.sha256()
    for path in source_files(root, entries):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
