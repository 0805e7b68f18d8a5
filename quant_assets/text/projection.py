"""Projections that compress 384-dim text embeddings to a few dims, fitted only on the past.

A projection for partition day D is a PCA fitted on embeddings of text created strictly
before D (by default the previous 30 days). It records its fit window, and both fitting and
applying refuse anything that would let day D's own text (or later) shape day D's features:

- ``fit_projection`` raises ``ProjectionLeakError`` when the fit window ends after D's start
  or when any text it is handed was created at or after the window's end;
- ``Projection.apply`` raises ``ProjectionLeakError`` for a day that starts before the
  projection's fit window ends.

PCA is computed in float64 from the covariance's eigen-decomposition, with a deterministic
sign per component (its largest-magnitude loading is positive), so the same inputs give the
same projection, bit for bit, on the same machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone

import numpy as np
import polars as pl
from threadpoolctl import ThreadpoolController

# Found once per process: ``threadpool_limits`` enumerates every loaded library on each
# call, 5 ms a fit in a Dagster process that has torch and LightGBM loaded.
_BLAS: ThreadpoolController | None = None
# While ``shared_fits`` is open: PCA results by a digest of exactly the matrix they were
# computed from (see there); None otherwise.
_SHARED: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None


class ProjectionLeakError(ValueError):
    """A projection would be fitted on, or applied to, data it must not see."""


class InsufficientHistory(ValueError):
    """Too few texts before the day to fit a projection; the tower is then missing."""


def day_start(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        day = day.astimezone(timezone.utc).date()
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} is naive; fit windows are UTC-aware datetimes")
    return moment.astimezone(timezone.utc)


@dataclass(frozen=True)
class Projection:
    tower: str
    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d), rows orthonormal
    explained_variance_ratio: np.ndarray  # (k,)
    fit_start: datetime
    fit_end: datetime
    n_fit: int
    model_version: str

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    @property
    def projection_id(self) -> str:
        digest = hashlib.sha256()
        for part in (self.tower, self.model_version, self.fit_start.isoformat(), self.fit_end.isoformat(), str(self.n_fit)):
            digest.update(part.encode())
            digest.update(b"\0")
        digest.update(np.ascontiguousarray(self.mean, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(self.components, dtype=np.float64).tobytes())
        return f"pca-{self.tower}-{self.dims}-{digest.hexdigest()[:16]}"

    def apply(self, embeddings: np.ndarray, day: date | datetime) -> np.ndarray:
        """Project embeddings of texts of ``day``; refused if the fit window reaches into the day."""
        start = day_start(day)
        if self.fit_end > start:
            raise ProjectionLeakError(
                f"projection {self.projection_id} was fitted on text up to {self.fit_end.isoformat()}, "
                f"after the start of {start.date().isoformat()}; it must not be applied to that day"
            )
        matrix = np.asarray(embeddings, dtype=np.float64)
        if matrix.size == 0:
            return np.zeros((0, self.dims), dtype=np.float32)
        return ((matrix - self.mean) @ self.components.T).astype(np.float32)


def apply_projection(projection: Projection, embeddings: np.ndarray, day: date | datetime) -> np.ndarray:
    return projection.apply(embeddings, day)


def _created_series(created_at) -> pl.Series:
    series = created_at if isinstance(created_at, pl.Series) else pl.Series("created_at", list(created_at))
    if not isinstance(series.dtype, pl.Datetime):
        raise TypeError(f"created_at must be datetimes, got {series.dtype}")
    if series.dtype.time_zone is None:
        raise ValueError("created_at must be UTC-aware")
    return series.dt.convert_time_zone("UTC").cast(pl.Datetime("us", "UTC"))


def fit_projection(
    embeddings: np.ndarray,
    created_at,
    fit_start: datetime,
    fit_end: datetime,
    day: date | datetime,
    dims: int,
    tower: str = "text",
    model_version: str = "",
    min_texts: int = 64,
) -> Projection:
    """PCA to ``dims`` components, fitted on texts created in ``[fit_start, fit_end)``.

    Refuses (``ProjectionLeakError``) a window ending after ``day``'s start, and any text
    created at or after the window's end or in ``day`` itself; a text before ``fit_start``
    is a caller error (``ValueError``). Raises ``InsufficientHistory`` when fewer than
    ``max(min_texts, dims + 1)`` texts are given: too little history is a missing tower,
    never an invented one.
    """
    fit_start, fit_end = _as_utc(fit_start), _as_utc(fit_end)
    start_of_day = day_start(day)
    if fit_end > start_of_day:
        raise ProjectionLeakError(
            f"fit window ends {fit_end.isoformat()}, after the start of the day it serves "
            f"({start_of_day.isoformat()}): a projection for a day is fitted only on text before it"
        )
    if fit_start >= fit_end:
        raise ValueError(f"empty fit window [{fit_start.isoformat()}, {fit_end.isoformat()})")
    matrix = np.asarray(embeddings)  # in float64 only when decomposed (``_pca``)
    created = _created_series(created_at)
    if matrix.ndim != 2 or matrix.shape[0] != created.len():
        raise ValueError(f"{matrix.shape} embeddings for {created.len()} created_at values")
    if created.len():
        if created.null_count():
            raise ValueError("created_at has nulls; every fitted text must have a creation time")
        latest, earliest = created.max(), created.min()
        if latest >= fit_end or latest >= start_of_day:
            raise ProjectionLeakError(
                f"a text created at {latest.isoformat()} is not strictly before the fit window's end "
                f"{fit_end.isoformat()} (day {start_of_day.date().isoformat()}): fitting on it is refused"
            )
        if earliest < fit_start:
            raise ValueError(f"a text created at {earliest.isoformat()} is before the fit window's start {fit_start.isoformat()}")
    needed = max(int(min_texts), int(dims) + 1)
    if matrix.shape[0] < needed:
        raise InsufficientHistory(f"{matrix.shape[0]} {tower} texts in [{fit_start.date()}, {fit_end.date()}), need {needed}")
    mean, components, explained = _pca(matrix, int(dims))
    return Projection(tower, mean, components, explained, fit_start, fit_end, int(matrix.shape[0]), model_version)


@contextmanager
def shared_fits() -> Iterator[None]:
    """Within the block, a PCA of a matrix already decomposed in the block is taken from
    that computation instead of repeated: text_latents fits each day's projections, then its
    refit check (in the same step) fits the projections of the windows the rows record; on
    honest data these are the same matrices. The key is a SHA-256 of the matrix's bytes (with
    its dtype, shape and the dims), so only a bit-identical input is served: a projection
    fitted on other text than its recorded window's (the planted fault) misses, is refitted
    and is caught, as before. Everything else (the window, the leak refusals, the latents)
    is computed anew by each caller."""
    global _SHARED
    outer, _SHARED = _SHARED, ({} if _SHARED is None else _SHARED)
    try:
        yield
    finally:
        _SHARED = outer


def _pca(given: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, the top ``dims`` components (deterministic signs) and their explained variance
    ratios of ``given``, computed in float64; served from ``shared_fits`` when open."""
    key = None
    if _SHARED is not None:
        raw = np.ascontiguousarray(given)
        key = (hashlib.sha256(raw.data).hexdigest(), str(raw.dtype), raw.shape, dims)
        if key in _SHARED:
            return _SHARED[key]
    matrix = np.asarray(given, dtype=np.float64)
    mean = matrix.mean(axis=0)
    centred = matrix - mean
    # One BLAS thread: a 384 x 384 problem gains nothing from more, and on a busy machine
    # OpenBLAS's spinning threads made each fit 10-25x slower (1.2 s instead of 0.08 s).
    # The result no longer depends on the machine's thread count either.
    with _blas().limit(limits=1, user_api="blas"):
        cov = centred.T @ centred / (matrix.shape[0] - 1)
        values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:dims]
    components = vectors[:, order].T.copy()
    # Deterministic sign: the largest-magnitude loading of each component is positive.
    pivots = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), pivots])
    signs[signs == 0] = 1.0
    components *= signs[:, None]
    total = float(values.clip(min=0).sum())
    explained = values[order].clip(min=0) / total if total > 0 else np.zeros(len(order))
    if key is not None:
        _SHARED[key] = (mean, components, explained)
    return mean, components, explained


def _blas() -> ThreadpoolController:
    global _BLAS
    if _BLAS is None:
        _BLAS = ThreadpoolController()
    return _BLAS
