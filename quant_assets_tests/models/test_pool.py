"""Fits in a pool of worker processes (``models.pool``): the same models as fitting one after
another, results in the jobs' order, and a failing job named in one error."""

from datetime import date

import numpy as np
import polars as pl
import pytest

from quant_assets.models.pool import FitJobError, fit_in_pool
from quant_assets.models.train import FitJob, fit_job
from quant_assets_tests import fitted_models

ANCHORS = (date(2025, 11, 3), date(2025, 11, 10))


def _square(n: int) -> int:
    if n == 3:
        raise ValueError("three is refused")
    return n * n


def test_the_pool_gives_the_same_models_as_fitting_one_after_another(seed_cache):
    jobs = [fitted_models.fit_inputs(seed_cache, day) for day in ANCHORS]
    tagged = [("first", jobs[0]), ("logged before", None), ("second", jobs[1])]
    pooled = list(fit_in_pool(tagged, fit_job, FitJob.describe, workers=2))
    in_order = list(fit_in_pool(tagged, fit_job, FitJob.describe, workers=1))
    assert [tag for tag, _ in pooled] == ["first", "logged before", "second"] and pooled[1][1] is None
    rows = jobs[1].features.tail(50)
    for (_, a), (_, b), job in zip(pooled[::2], in_order[::2], jobs):
        assert a.window == b.window == job.window
        assert a.metrics == b.metrics and a.cv == b.cv and a.sample == b.sample
        for family, predicted in a.predict(rows).items():
            assert np.array_equal(predicted, b.predict(rows)[family], equal_nan=True), family
    assert pooled[0][1].window.anchor != pooled[2][1].window.anchor


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_in_the_jobs_order_and_a_failure_names_its_job(workers):
    results = fit_in_pool(((n, n) for n in range(6)), _square, lambda n: f"job {n}", workers=workers)
    assert [next(results) for _ in range(3)] == [(0, 0), (1, 1), (2, 4)]
    with pytest.raises(FitJobError, match=r"^job 3: ValueError: three is refused$"):
        next(results)


def test_a_fit_that_fails_in_a_worker_names_its_symbol_and_anchor(seed_cache):
    good = fitted_models.fit_inputs(seed_cache, ANCHORS[0])
    bad = fitted_models.fit_inputs(seed_cache, ANCHORS[1])
    bad.labels = bad.labels.with_columns(pl.lit(True).alias(c) for c in bad.labels.columns if c.startswith("label_missing"))
    results = fit_in_pool([(0, good), (1, bad)], fit_job, FitJob.describe, workers=2)
    assert next(results)[1].window == good.window
    with pytest.raises(FitJobError, match=f"^fit of {fitted_models.SYMBOL} anchor {ANCHORS[1]}: ValueError: .*no row has a label"):
        next(results)
