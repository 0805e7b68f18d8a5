"""End to end on 60 synthetic days: simulate the reference strategy and the baselines,
book daily PnL, collect the evidence and ask the gate. Skill passes; the same skill with
a failed upstream check, the best of pure noise, or too short a record does not."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from quant_assets.evaluation import metrics, strategy
from quant_assets.evaluation.evidence import collect_evidence, pbo_blocks
from quant_assets.evaluation.gate import verdict
from quant_assets_tests.evaluation.synthetic_series import HOUR, series

H = 4 * HOUR
FIRST = date(2025, 9, 1)
DAYS = 60


def daily(evaluated: pl.DataFrame, name: str) -> pl.DataFrame:
    return metrics.daily_pnl(evaluated).rename({"pnl": name})


def book_of(f: pl.DataFrame) -> pl.DataFrame:
    """Daily PnL of the reference strategy and of every baseline on one series."""
    book = daily(strategy.reference(f, horizon=H), strategy.STRATEGY)
    for name in strategy.BASELINES:
        book = book.join(daily(strategy.baseline(f, name, horizon=H), name), on="day")
    return book


def inputs(chosen_skill: float, other_skills: list[float], days: int = DAYS) -> dict:
    """The book (strategy and baselines), the trials and the trading figures."""
    f = series(FIRST, days, skill=chosen_skill, seed=1)
    evaluated = strategy.reference(f, horizon=H)
    book = book_of(f)
    # Every variant tried (other families, horizons, ablations) counts as a trial.
    trials = book.select("day", strategy.STRATEGY)
    for j, skill in enumerate(other_skills):
        g = series(FIRST, days, skill=skill, seed=100 + j)
        trials = trials.join(daily(strategy.reference(g, horizon=H), f"variant_{j}"), on="day")
    figures = metrics.series_figures(evaluated)
    coverage = evaluated["evaluable"].sum() / (days * 24 * HOUR / H)
    # Every source reached the model (text is not required: the gate's default minimum is 0).
    sources = {"bars": 1.0, "derivatives": 1.0, "text": 0.0}
    return dict(daily=book, trials=trials, trades=figures["trades"], turnover=figures["turnover"], coverage=coverage, source_coverage=sources)


def record(chosen_skill, other_skills, days=DAYS, **kw):
    got = inputs(chosen_skill, other_skills, days)
    return collect_evidence(got.pop("daily"), got.pop("trials"), **got, **kw)


ABLATIONS = [0.25, 0.2, 0.15, 0.1, 0.05, 0.0, 0.0]


@pytest.fixture(scope="module")
def skilled() -> dict:
    return inputs(0.3, ABLATIONS)


def test_a_genuinely_skilled_strategy_passes_every_gate(skilled):
    evidence = collect_evidence(**skilled)
    v = verdict(evidence)
    assert v.passed, v.failures
    assert evidence.completed_days == DAYS and evidence.n_trials == 8 and evidence.coverage == 1.0
    assert evidence.windows_beaten == 4 and evidence.pbo < 0.1
    # Deflated by seven other variants, some of them skilled too: it passes, not by much.
    assert 0.95 <= evidence.dsr_probability < 0.99


def test_the_same_strategy_with_a_failed_upstream_check_is_refused(skilled):
    v = verdict(collect_evidence(**skilled, failing_partitions=["labels 2025-09-14|BTC-USDT label_available_at"]))
    assert not v.passed
    assert v.failures == ["FAIL leakage: upstream blocking checks failed: labels 2025-09-14|BTC-USDT label_available_at"]


def test_the_best_of_pure_noise_does_not_pass():
    # Pick, as a careless researcher would, the best of eight noise variants.
    candidates = {seed: series(FIRST, DAYS, skill=0.0, seed=seed) for seed in range(200, 208)}
    books = {seed: daily(strategy.reference(f, horizon=H), f"v{seed}") for seed, f in candidates.items()}
    best = max(books, key=lambda s: books[s][f"v{s}"].sum())
    f = candidates[best]
    book = book_of(f)
    trials = books[200]
    for seed in range(201, 208):
        trials = trials.join(books[seed], on="day")
    figures = metrics.series_figures(strategy.reference(f, horizon=H))
    v = verdict(collect_evidence(book, trials, trades=figures["trades"], turnover=figures["turnover"], coverage=1.0))
    assert not v.passed
    assert "FAIL deflated Sharpe" in [r.split(":")[0] for r in v.failures]


def test_a_short_record_fails_for_lack_of_evidence_even_with_skill():
    v = verdict(record(0.3, ABLATIONS, days=20))
    assert v.failures[0].startswith("FAIL evidence: too little evidence: 20 completed days (min 30)")


def test_pbo_blocks_shrink_with_a_short_window_and_days_must_match():
    assert [pbo_blocks(d) for d in (60, 32, 20, 5, 3)] == [16, 16, 10, 2, 0]
    f = series(FIRST, 10, skill=0.3, seed=1)
    book = daily(strategy.reference(f, horizon=H), strategy.STRATEGY)
    with pytest.raises(ValueError, match="same days"):
        collect_evidence(book, book[1:], trades=1, turnover=1.0, coverage=1.0)
