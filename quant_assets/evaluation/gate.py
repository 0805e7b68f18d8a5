"""The gate verdict: a pure function of the evidence figures and the thresholds.

Every gate is evaluated and reported (one readable line each, PASS or FAIL), so a failed
verdict says everything that is wrong at once; the verdict passes only if every gate does:

- evidence: completed days >= min_days and trades >= min_trades; a verdict never passes
  on too little evidence;
- leakage: every upstream partition's blocking checks passed (failing ones are named);
- data quality: coverage (share of expected evaluation rows present) >= min_coverage, and
  each source's coverage (share of the evidence days' feature rows the source reached,
  see ``gate_window.source_coverage``) >= its own minimum (text 0 by default: collected only since
  the scrape began, and the models are trained to do without it, so it is reported, not
  required, unless a deployment raises it);
- performance: the strategy beats every baseline's Sharpe in >= min_windows_beaten
  walk-forward sub-windows and its daily Sharpe >= sharpe_floor; the line states the
  Sharpe's 90% block-bootstrap interval and the independent days it rests on
  (``bootstrap.sharpe_interval``), reported, not gated;
- deflated Sharpe: DSR probability >= min_dsr, over every trial that could have produced a
  pass (``trials_counted`` says how they were counted);
- overfitting: PBO <= max_pbo;
- stability: max drawdown <= max_drawdown and daily turnover <= max_turnover.

A figure that could not be computed (NaN) fails its gate.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields

from quant_assets.features.contract import SOURCES

ENV_PREFIX = "QUANT_ASSETS_GATE_"


@dataclass(frozen=True)
class Thresholds:
    window_days: int = 60  # trailing window of completed evaluations
    min_days: int = 30  # completed days needed for any verdict
    min_trades: int = 30
    min_coverage: float = 0.95
    min_bars_coverage: float = 0.95  # per source: share of feature rows with the source present
    min_derivatives_coverage: float = 0.90
    min_text_coverage: float = 0.0
    walk_forward_windows: int = 4
    min_windows_beaten: int = 2
    sharpe_floor: float = 1.5  # annualised daily Sharpe, after cost
    min_dsr: float = 0.95
    max_pbo: float = 0.5
    max_drawdown: float = 0.20  # fraction of peak equity
    max_turnover: float = 10.0  # mean |change of position| per day

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = _out_of_range(f.name, getattr(self, f.name), self)
            if problem:
                raise ValueError(f"gate threshold {f.name}={getattr(self, f.name)!r} ({env_var(f.name)}): {problem}")

    @classmethod
    def from_env(cls, environ=None) -> "Thresholds":
        """Defaults overridden by ``QUANT_ASSETS_GATE_<NAME>`` (e.g. ``..._SHARPE_FLOOR=1.0``);
        a bad value raises one line naming the variable."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            var = env_var(f.name)
            if var not in environ:
                continue
            raw = environ[var]
            kind = int if f.type in (int, "int") else float
            try:
                values[f.name] = kind(raw.strip())
            except ValueError:
                raise ValueError(f"{var}={raw!r}: expected {'a whole number' if kind is int else 'a number'}") from None
            problem = _out_of_range(f.name, values[f.name], None)
            if problem:
                raise ValueError(f"{var}={raw!r}: {problem}")
        return cls(**values)  # a combination out of range (beaten > windows) names its variable


def env_var(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _out_of_range(name: str, value, whole: Thresholds | None) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "must be finite"
    if (name.endswith("coverage") or name in ("min_dsr", "max_pbo", "max_drawdown")) and not 0.0 <= value <= 1.0:
        return "must be a fraction in [0, 1]"
    if name in ("window_days", "min_days", "walk_forward_windows", "min_windows_beaten") and value < 1:
        return "must be at least 1"
    if name in ("min_trades", "max_turnover") and value < 0:
        return "must not be negative"
    if whole is not None and name == "min_windows_beaten" and value > whole.walk_forward_windows:
        return f"cannot exceed walk_forward_windows={whole.walk_forward_windows}"
    if whole is not None and name == "min_days" and value > whole.window_days:
        return f"cannot exceed window_days={whole.window_days}"
    return None


@dataclass(frozen=True)
class Evidence:
    completed_days: int
    trades: int
    upstream_checks_passed: bool
    failing_partitions: tuple[str, ...]
    coverage: float
    daily_sharpe: float
    windows_beaten: int
    n_windows: int
    dsr_probability: float
    n_trials: int
    pbo: float
    max_drawdown: float
    turnover: float
    # Purged k-fold Sharpe from fit time: reported beside the walk-forward one, not gated.
    cv_sharpe: float = math.nan
    # Per source (features.contract.SOURCES): NaN when the feature rows were not read.
    bars_coverage: float = math.nan
    derivatives_coverage: float = math.nan
    text_coverage: float = math.nan
    # The daily Sharpe's 90% stationary-bootstrap interval (``bootstrap.sharpe_interval``).
    sharpe_ci_low: float = math.nan
    sharpe_ci_high: float = math.nan
    ci_block_days: int = 0
    independent_days: float = math.nan
    trials_counted: str = ""  # how n_trials was counted


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str]
    figures: dict = field(default_factory=dict)

    @property
    def failures(self) -> list[str]:
        return [r for r in self.reasons if r.startswith("FAIL")]


def _line(ok: bool, gate: str, text: str) -> tuple[bool, str]:
    return ok, f"{'PASS' if ok else 'FAIL'} {gate}: {text}"


def _evidence(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    ok = e.completed_days >= th.min_days and e.trades >= th.min_trades
    text = f"{e.completed_days} completed days (min {th.min_days}), {e.trades} trades (min {th.min_trades})"
    return _line(ok, "evidence", text if ok else "too little evidence: " + text)


def _leakage(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    ok = e.upstream_checks_passed and not e.failing_partitions
    if ok:
        return _line(True, "leakage", "every upstream partition's blocking checks passed")
    named = ", ".join(e.failing_partitions) or "not named by the caller"
    return _line(False, "leakage", f"upstream blocking checks failed: {named}")


def _coverage(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    ok = e.coverage >= th.min_coverage
    parts = [f"coverage {e.coverage:.3f} (min {th.min_coverage})"]
    for source in SOURCES:
        value, floor = getattr(e, f"{source}_coverage"), getattr(th, f"min_{source}_coverage")
        # A source that could not be measured fails unless nothing is required of it.
        ok &= floor == 0.0 or value >= floor
        parts.append(f"{source} {value:.3f} (min {floor})")
    return _line(ok, "data quality", ", ".join(parts))


def _performance(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    ok = e.windows_beaten >= th.min_windows_beaten and e.daily_sharpe >= th.sharpe_floor
    text = (
        f"beats every baseline in {e.windows_beaten} of {e.n_windows} sub-windows (min {th.min_windows_beaten}), "
        f"daily Sharpe {e.daily_sharpe:.2f} (floor {th.sharpe_floor}), 90% interval {e.sharpe_ci_low:.2f}..{e.sharpe_ci_high:.2f} "
        f"on {e.independent_days:g} independent days (bootstrap block {e.ci_block_days}d)"
    )
    return _line(ok, "performance", text)


def _deflated(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    return _line(
        e.dsr_probability >= th.min_dsr,
        "deflated Sharpe",
        f"probability {e.dsr_probability:.3f} over {e.n_trials} trials (min {th.min_dsr})" + (f": {e.trials_counted}" if e.trials_counted else ""),
    )


def _overfitting(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    return _line(e.pbo <= th.max_pbo, "overfitting", f"PBO {e.pbo:.3f} (max {th.max_pbo})")


def _stability(e: Evidence, th: Thresholds) -> tuple[bool, str]:
    ok = e.max_drawdown <= th.max_drawdown and e.turnover <= th.max_turnover
    return _line(ok, "stability", f"max drawdown {e.max_drawdown:.3f} (max {th.max_drawdown}), turnover {e.turnover:.2f}/day (max {th.max_turnover})")


GATES = (_evidence, _leakage, _coverage, _performance, _deflated, _overfitting, _stability)


def figures_of(record: Evidence | Thresholds) -> dict:
    """The fields of an ``Evidence`` or ``Thresholds`` by name (a shallow ``asdict``: their
    values are numbers, strings and a tuple of strings, nothing to copy)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def verdict(evidence: Evidence, thresholds: Thresholds | None = None) -> Verdict:
    th = thresholds or Thresholds()
    results = [gate(evidence, th) for gate in GATES]
    reasons = [line for _, line in results]
    if math.isfinite(evidence.cv_sharpe):
        reasons.append(f"INFO purged k-fold Sharpe {evidence.cv_sharpe:.2f} vs walk-forward {evidence.daily_sharpe:.2f}")
    figures = figures_of(evidence) | {"thresholds": figures_of(th)}
    return Verdict(passed=all(ok for ok, _ in results), reasons=reasons, figures=figures)
