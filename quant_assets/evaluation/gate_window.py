"""gate_verdict's pure half: one verdict per model (family, horizon) from a trailing window
of oos_eval rows.

Only days complete at the verdict's own day are evidence: the verdict for D counts a day only
if every label of its rows was available at D 00:00 (``completeness.evidence_days``), so it is
the same row whether computed on D or a year later; a day that was still partial then (its
7d labels unknown), or whose rows still lack a label, would score a model on trades nobody
could have scored at D. The days counted are stored with the row (``evidence_days``), for
gate_verdict's blocking checks to re-derive from the labels (``gate_verify``). For each model
series (a family that predicted, on one horizon; or the symbol's ``portfolio``, on whatever
horizon name oos_eval gives it) the window gives:

- the book: daily after-cost PnL of that series (``strategy``) and of the horizon's baselines;
- the trials: daily PnL of every model series evaluated in the window (families x horizons,
  ablations and portfolio included), which the PBO uses; the deflated Sharpe counts those
  series times the configurations trained in the window, plus the re-judgings (``trial_count``);
- the daily Sharpe's 90% block-bootstrap interval, blocks of at least the horizon in days
  (``bootstrap.sharpe_interval``; a series on no single horizon, like ``portfolio``, holds
  positions up to the longest one and is resampled by it);
- trades, turnover per day, and coverage: evaluable decisions over the decisions the
  horizon's grid holds in the complete days (a missing bar, label or input lowers it; a
  series on no single horizon, which re-weighs whenever one of them decides: the shortest's);
- per source, the share of the complete days' feature rows where the source reached the
  model: at least one of its feature groups present (``source_coverage``; a source whose
  every flag is set at a row was absent there). One figure for every series of the symbol;
- the purged k-fold Sharpe of the fit, where the fit stored one (LightGBM), beside the
  walk-forward one.

A day without an evaluable decision of a series books 0 for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone

import numpy as np
import polars as pl

from quant_assets.evaluation import gate_book, strategy
from quant_assets.evaluation.completeness import evidence_days
from quant_assets.evaluation.evidence import collect_evidences
from quant_assets.evaluation.gate import Thresholds, figures_of, verdict
from quant_assets.evaluation.portfolio import PORTFOLIO  # the family of the symbol's combined book
from quant_assets.features.contract import FLAGS_BY_SOURCE
from quant_assets.labels.horizons import HORIZON_NAMES, HORIZONS

GATE_ASSET = "gate_verdict"
REASON_SEPARATOR = "\n"
PARTITION_SEPARATOR = "; "

VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "family": pl.String(),
    "horizon": pl.String(),
    "passed": pl.Boolean(),
    "reasons": pl.String(),  # one PASS/FAIL line per gate, joined by newlines
    "window_start": pl.Date(),
    "window_end": pl.Date(),
    "completed_days": pl.Int64(),
    "trades": pl.Int64(),
    "upstream_checks_passed": pl.Boolean(),
    "failing_partitions": pl.String(),  # "; "-joined, empty when none
    "coverage": pl.Float64(),
    "daily_sharpe": pl.Float64(),
    "windows_beaten": pl.Int64(),
    "n_windows": pl.Int64(),
    "dsr_probability": pl.Float64(),
    "n_trials": pl.Int64(),
    "pbo": pl.Float64(),
    "max_drawdown": pl.Float64(),
    "turnover": pl.Float64(),
    "cv_sharpe": pl.Float64(),
    "bars_coverage": pl.Float64(),
    "derivatives_coverage": pl.Float64(),
    "text_coverage": pl.Float64(),
    "sharpe_ci_low": pl.Float64(),  # 90% stationary block bootstrap interval of daily_sharpe
    "sharpe_ci_high": pl.Float64(),
    "ci_block_days": pl.Int64(),  # its mean block length
    "independent_days": pl.Float64(),  # evidence days / holding days (>= 1 day): what the interval rests on
    "trials_counted": pl.String(),  # how n_trials was counted
    "configurations": pl.Int64(),  # distinct configurations trained in the window (>= 1)
    "evidence_days": pl.List(pl.Date()),  # the days counted, each complete at window_end 00:00
}
LONGEST, SHORTEST = max(HORIZONS.values()), min(HORIZONS.values())


def window_days(day: date, window: int, first_day: date) -> list[date]:
    """Days ``day - (window-1) .. day`` that exist (not before the first partition day);
    the same days as the asset's ``day_window_mapping(-(window-1), 0)``."""
    return [d for d in (day - timedelta(days=i) for i in range(window - 1, -1, -1)) if d >= first_day]


def complete(book: gate_book.Book, stored: Sequence[date], day: date) -> list[date]:
    """The ``stored`` days of the window whose every label was available at ``day`` 00:00."""
    return evidence_days({d: book.known_at.get(d) for d in stored}, day)


def horizon_days(horizon: str, family: str = "") -> float:
    """A series' holding horizon in days. The ``portfolio`` holds positions up to the longest
    horizon, whatever horizon oos_eval books it on (the finest weighted one), as does a series
    on no single horizon."""
    held = LONGEST if family == PORTFOLIO else HORIZONS.get(horizon, LONGEST)
    return held / timedelta(days=1)


def trial_count(series: int, configurations: int, judgings: int) -> tuple[int, str]:
    """Every look that could have produced a pass: each series evaluated (families, horizons,
    ablations, portfolio) under each configuration trained in the window, plus each earlier
    re-judging of the window (it is judged again as each day completes, one more look at
    mostly the same evidence). With how it was counted, in words."""
    configurations, judgings = max(configurations, 1), max(judgings, 1)
    n = series * configurations + judgings - 1
    return max(n, 1), f"{series} series x {configurations} configuration(s) + {judgings - 1} re-judging(s)"


def model_series(series: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (family, horizon) of ``series`` that a model predicted (baselines excluded), by
    horizon, then family."""
    order = {h: i for i, h in enumerate(HORIZON_NAMES)}
    return sorted({p for p in series if p[0] not in strategy.BASELINES}, key=lambda p: (order.get(p[1], len(order)), p[0]))


def grid_decisions(days: Sequence[date], horizon: timedelta) -> int:
    """Decision instants of the horizon's epoch-aligned grid (``strategy.on_grid``) among the
    days' rows, t in (D 00:00, D+1 00:00]: what a fully covered series decides."""
    step = horizon // timedelta(microseconds=1)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)

    def instants(moment: datetime) -> int:  # grid points in (epoch, moment]
        return ((moment - epoch) // timedelta(microseconds=1)) // step

    starts = [datetime.combine(d, time(), tzinfo=timezone.utc) for d in days]
    return sum(instants(s + timedelta(days=1)) - instants(s) for s in starts)


def source_coverage(features: pl.DataFrame | None) -> dict[str, float]:
    """Per source, the share of feature rows with at least one of its feature groups present,
    i.e. not every one of its missing flags set (``{}`` when no feature rows were read: the
    figures stay NaN and say so). Not "every group present": the default venue serves open
    interest and long/short ratios for its last 30 days only, so a backfill lacks them for
    good while funding and basis arrive; that is a thinner source, not an absent one."""
    if features is None or features.height == 0:
        return {}
    present = features.select([(~pl.all_horizontal(list(flags))).mean().alias(source) for source, flags in FLAGS_BY_SOURCE.items()])
    return present.row(0, named=True)


def verdicts(
    rows_by_day: Mapping[date, pl.DataFrame],
    window: tuple[date, date],
    failing_partitions: Sequence[str],
    thresholds: Thresholds,
    features_by_day: Mapping[date, pl.DataFrame] | None = None,
    cv_sharpes: Mapping[tuple[str, str], float] | None = None,
    configurations: int = 1,
) -> pl.DataFrame:
    """One row per model series stored in the window (``VERDICT_SCHEMA``), judged as of
    ``window[1]`` 00:00: a pure function of its inputs, whatever the clock. ``rows_by_day``:
    the oos_eval rows of each stored day of the window; days not complete by then are stored
    but are no evidence, so a window of them is judged on zero completed days (a FAIL).
    ``features_by_day``: the feature rows (missing flags at least) of the window's days;
    ``cv_sharpes``: the fit's purged k-fold Sharpe per (family, horizon), where stored;
    ``configurations``: distinct configurations trained in the window (``trial_count``).
    The window's book (``gate_book``), judged by ``judge``."""
    if not rows_by_day:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    book = gate_book.book_of_days(rows_by_day, features_by_day)
    return judge(book, sorted(rows_by_day), window, failing_partitions, thresholds, cv_sharpes, configurations)


def judge(
    book: gate_book.Book,
    stored: Sequence[date],
    window: tuple[date, date],
    failing_partitions: Sequence[str],
    thresholds: Thresholds,
    cv_sharpes: Mapping[tuple[str, str], float] | None = None,
    configurations: int = 1,
) -> pl.DataFrame:
    """``verdicts`` of the window whose ``stored`` days the symbol's ``book`` holds (a book may
    hold more: those of every window judged with it). Every series is judged in one pass over
    the window's daily PnL matrix (``evidence.collect_evidences``)."""
    if not stored:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    evidence = complete(book, stored, window[1])
    judged = model_series({s for d in stored for s in book.held.get(d, ())})
    if not judged:
        return pl.DataFrame(schema=VERDICT_SCHEMA)
    rows = book.rows_of(evidence)
    # [day, series] over the evidence days, 0 on a day without an evaluable decision
    daily = np.zeros((len(evidence), len(book.keys)))
    if rows.size:
        daily[[i for i, d in enumerate(evidence) if d in book.days]] = book.pnl[rows]
    present = book.present[rows].any(axis=0) if rows.size else np.zeros(len(book.keys), dtype=bool)
    evaluated = model_series({k for k, held in zip(book.keys, present) if held})
    zeros = np.zeros(len(evidence))
    column = lambda f, h: daily[:, book.columns[(f, h)]] if (f, h) in book.columns else zeros  # noqa: E731
    trials = np.asfortranarray(np.stack([column(f, h) for f, h in evaluated], axis=1)) if evaluated else np.zeros((len(evidence), 0), order="F")
    expected = {h: grid_decisions(evidence, HORIZONS.get(h, SHORTEST)) for h in {h for _, h in judged}}
    counts = {}
    for family, horizon in judged:
        j = book.columns.get((family, horizon))
        trades = int(book.trades[rows, j].sum()) if j is not None and rows.size else 0
        evaluable = int(book.evaluable[rows, j].sum()) if j is not None and rows.size else 0
        turnover = book.turnover_sum(j, rows) if j is not None else 0.0
        counts[(family, horizon)] = (trades, turnover / len(evidence) if evidence else 0.0,
                                     float(evaluable) / expected[horizon] if expected[horizon] else 0.0)  # fmt: skip
    n_trials, counted = trial_count(len(evaluated), configurations, len(evidence))
    found = collect_evidences(
        np.stack([column(f, h) for f, h in judged]),
        np.stack([np.stack([column(b, h) for b in strategy.BASELINES]) for _, h in judged]),
        trials,
        trades=[counts[s][0] for s in judged], turnovers=[counts[s][1] for s in judged], coverages=[counts[s][2] for s in judged],
        cv_sharpes=[(cv_sharpes or {}).get(s, float("nan")) for s in judged], horizon_days=[horizon_days(h, f) for f, h in judged],
        failing_partitions=failing_partitions, thresholds=thresholds, source_coverage=book.source_coverage(evidence),
        n_trials=n_trials, trials_counted=counted,
    )  # fmt: skip
    out = []
    for (family, horizon), e in zip(judged, found):
        v = verdict(e, thresholds)
        figures = figures_of(e) | {"failing_partitions": PARTITION_SEPARATOR.join(e.failing_partitions)}
        out.append(
            {
                "family": family,
                "horizon": horizon,
                "passed": v.passed,
                "reasons": REASON_SEPARATOR.join(v.reasons),
                "window_start": window[0],
                "window_end": window[1],
                **figures,
                "configurations": max(configurations, 1),
                "evidence_days": evidence,
            }
        )
    return pl.DataFrame(out, schema=VERDICT_SCHEMA)
