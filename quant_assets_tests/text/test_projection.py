"""Projections are fitted only on text before the day, and refuse anything else."""

from datetime import date, datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from quant_assets.text.projection import (
    InsufficientHistory,
    ProjectionLeakError,
    apply_projection,
    fit_projection,
    shared_fits,
)

DAY = date(2025, 10, 10)
START = datetime(2025, 10, 10, tzinfo=timezone.utc)
FIT_START, FIT_END = START - timedelta(days=30), START


def texts(n, first, span, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    created = pl.Series("created_at", [first + span * i / n for i in range(n)], dtype=pl.Datetime("us", "UTC"))
    return vectors, created


def test_projection_fitted_on_the_days_own_text_is_refused():
    # History plus a single text written at 00:00:01 on day D itself.
    vectors, created = texts(200, FIT_START, timedelta(days=30))
    leaked = created.to_list()
    leaked[-1] = START + timedelta(seconds=1)
    with pytest.raises(ProjectionLeakError, match="not strictly before"):
        fit_projection(vectors, pl.Series(leaked, dtype=pl.Datetime("us", "UTC")), FIT_START, FIT_END, DAY, dims=8)
    # Text created exactly at the window's end (the day's first instant) is refused too.
    leaked[-1] = START
    with pytest.raises(ProjectionLeakError):
        fit_projection(vectors, pl.Series(leaked, dtype=pl.Datetime("us", "UTC")), FIT_START, FIT_END, DAY, dims=8)


def test_a_fit_window_reaching_into_the_day_is_refused_even_without_day_text():
    vectors, created = texts(200, FIT_START, timedelta(days=29))
    with pytest.raises(ProjectionLeakError, match="after the start of the day"):
        fit_projection(vectors, created, FIT_START, START + timedelta(hours=1), DAY, dims=8)


def test_applying_a_projection_fitted_after_the_day_start_is_refused():
    vectors, created = texts(200, FIT_START + timedelta(days=1), timedelta(days=29))
    later = fit_projection(vectors, created, FIT_START + timedelta(days=1), FIT_END + timedelta(days=1), DAY + timedelta(days=1), dims=8)
    assert later.fit_end == START + timedelta(days=1)
    with pytest.raises(ProjectionLeakError, match="must not be applied"):
        later.apply(vectors[:3], DAY)
    with pytest.raises(ProjectionLeakError):
        apply_projection(later, vectors[:3], DAY)
    # The next day is fine.
    assert later.apply(vectors[:3], DAY + timedelta(days=1)).shape == (3, 8)


def test_a_proper_fit_records_its_window_and_is_deterministic():
    vectors, created = texts(300, FIT_START, timedelta(days=30))
    a = fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=16, tower="post", model_version="m1")
    b = fit_projection(vectors.copy(), created, FIT_START, FIT_END, DAY, dims=16, tower="post", model_version="m1")
    assert (a.fit_start, a.fit_end, a.n_fit) == (FIT_START, FIT_END, 300)
    assert a.projection_id == b.projection_id and a.projection_id.startswith("pca-post-16-")
    np.testing.assert_array_equal(a.components, b.components)
    # Orthonormal components, each with its largest loading positive.
    np.testing.assert_allclose(a.components @ a.components.T, np.eye(16), atol=1e-8)
    assert (a.components[np.arange(16), np.abs(a.components).argmax(axis=1)] > 0).all()
    assert np.all(np.diff(a.explained_variance_ratio) <= 1e-12)
    z = a.apply(vectors[:5], DAY)
    np.testing.assert_allclose(z, (vectors[:5] - a.mean) @ a.components.T, rtol=1e-5, atol=1e-6)
    # A different model version is a different projection.
    assert fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=16, tower="post", model_version="m2").projection_id != a.projection_id


def test_too_little_history_is_a_missing_tower_not_an_invented_one():
    vectors, created = texts(40, FIT_START, timedelta(days=30))
    with pytest.raises(InsufficientHistory, match="40 post texts"):
        fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=32, tower="post", min_texts=64)
    with pytest.raises(InsufficientHistory):
        fit_projection(vectors[:0], created[:0], FIT_START, FIT_END, DAY, dims=32)


def test_text_before_the_declared_window_is_a_caller_error():
    vectors, created = texts(100, FIT_START - timedelta(days=1), timedelta(days=30))
    with pytest.raises(ValueError, match="before the fit window's start"):
        fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=8)


def test_shared_fits_serve_only_a_bit_identical_matrix(monkeypatch):
    """The refit check shares the asset's PCA only for the very same input bytes: one vector
    changed (a projection fitted on other text) is decomposed anew and gives another projection."""
    vectors, created = texts(300, FIT_START, timedelta(days=30))
    decompositions = []
    real_eigh = np.linalg.eigh
    monkeypatch.setattr(np.linalg, "eigh", lambda m: decompositions.append(1) or real_eigh(m))
    alone = fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=16)
    with shared_fits():
        first = fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=16)
        again = fit_projection(vectors.copy(), created, FIT_START, FIT_END, DAY, dims=16)
        changed = vectors.copy()
        changed[7, 3] += 1e-3
        other = fit_projection(changed, created, FIT_START, FIT_END, DAY, dims=16)
        narrower = fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=8)
    after = fit_projection(vectors, created, FIT_START, FIT_END, DAY, dims=16)
    assert len(decompositions) == 5  # alone, first, other, narrower, after: `again` was served
    assert alone.projection_id == first.projection_id == again.projection_id == after.projection_id
    assert other.projection_id != first.projection_id and narrower.dims == 8
    # What is served is only the decomposition: each fit still records its own window.
    later = fit_projection(vectors, created, FIT_START, FIT_END + timedelta(days=1), DAY + timedelta(days=1), dims=16)
    assert later.fit_end == FIT_END + timedelta(days=1)
