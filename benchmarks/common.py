"""Helpers the benchmarks share: fresh homes, timed subprocesses, a Dagster CLI backfill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def home_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for a fresh QUANT_ASSETS_HOME with an on-disk SQLite Dagster instance."""
    env = {k: v for k, v in os.environ.items() if k not in ("QUANT_ASSETS_PG_URL", "DAGSTER_HOME")}
    env.update(QUANT_ASSETS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), HF_HUB_OFFLINE="1", **extra)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "dagster" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    return env


def timed(cmd: list[str], env: dict[str, str], label: str) -> float:
    """Run a command to completion, fail loudly, return its wall time in seconds."""
    print(f"[bench] {label}: {' '.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"{label} failed with exit code {proc.returncode}")
    print(f"[bench] {label}: {elapsed:.1f}s", file=sys.stderr, flush=True)
    return elapsed


def dagster_backfill(module: str, select: str, partition_range: str) -> list[str]:
    """What a user types to backfill a range in one run (BackfillPolicy.single_run)."""
    return [str(BIN / "dagster"), "asset", "materialize", "-m", module, "--select", select, "--partition-range", partition_range]


def emit(result: dict) -> None:
    print(json.dumps(result, sort_keys=True))
