"""Fit jobs in a pool of worker processes, results in job order (pure: no Dagster, no MLflow).

A step's fits are independent (each is seeded by its settings: LightGBM's ``seed``, the net's
``torch.manual_seed``), so where a fit runs cannot change what it computes: the pool gives
the same models as fitting one after another, and the caller logs them in job order, so
nothing downstream depends on which worker finished first.

Workers are spawned processes with one thread each (OpenMP, MKL, OpenBLAS, polars, torch):
two single-threaded fits on two cores beat one fit on two threads, whose OpenMP barriers spin
whenever the machine is shared (``config.TrainingConfig.threads``). Spawned, not forked: the
parent (a Dagster step) holds threads and database connections a fork would copy half-way.
As with any spawned worker, a script that runs the step itself must guard its entry point
(``if __name__ == "__main__":``): a worker imports the parent's main module. Each worker pays the
imports of a fit once (~5 s of CPU), so a step pays ~10 s once, whatever its number of fits.

At most ``2 x workers`` jobs are in flight, so a long run never holds every window's frames
at once; a job is pulled from the caller's iterable only when a slot frees. Where a pool
cannot help or cannot run (one job, one worker, or a daemonic process such as a Celery prefork
worker, which may not have children) the jobs run here, in order, through the same function.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")

MAX_WORKERS = 2  # the machine the study runs on has two cores; more would only share them
# Read by the native libraries when they load, so they must be in a worker's environment
# before it starts (the workers inherit the parent's environment at spawn).
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
    "OMP_WAIT_POLICY": "passive",
}


class FitJobError(RuntimeError):
    """A fit job failed (in a worker or here); the message names the job."""


def default_workers() -> int:
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def fit_in_pool(
    jobs: Iterable[tuple[T, J | None]], fn: Callable[[J], R], describe: Callable[[J], str], workers: int | None = None
) -> Iterator[tuple[T, R | None]]:
    """``(tag, fn(job))`` for each ``(tag, job)``, in the jobs' order, computed in up to
    ``workers`` processes (default :func:`default_workers`). The tag stays here (only the job
    travels); a ``None`` job (nothing to compute, e.g. a fit logged before) gives ``None`` in
    its place. ``fn`` must be a module-level function, jobs and results picklable. A failing
    job raises :class:`FitJobError` naming it (``describe(job)``); the jobs after it are cancelled."""
    workers = default_workers() if workers is None else workers
    pending = iter(jobs)
    first = [item for _, item in zip(range(2), pending)]
    jobs = itertools.chain(first, pending)
    if workers < 2 or len(first) < 2 or multiprocessing.current_process().daemon:
        yield from _in_order(jobs, fn, describe)
    else:
        yield from _pooled(jobs, fn, describe, workers)


def _in_order(jobs: Iterator[tuple[T, J | None]], fn: Callable[[J], R], describe: Callable[[J], str]) -> Iterator[tuple[T, R | None]]:
    for tag, job in jobs:
        if job is None:
            yield tag, None
            continue
        try:
            result = fn(job)
        except Exception as error:
            raise FitJobError(f"{describe(job)}: {type(error).__name__}: {error}") from error
        yield tag, result


def _pooled(jobs: Iterator[tuple[T, J | None]], fn: Callable[[J], R], describe: Callable[[J], str], workers: int) -> Iterator[tuple[T, R | None]]:
    in_flight: deque[tuple[T, J | None, Future | None]] = deque()
    with _one_thread_env():
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread_worker)
    try:
        for tag, job in jobs:
            if job is None:
                in_flight.append((tag, None, None))
            else:
                with _one_thread_env():  # workers start on demand, at a submit
                    in_flight.append((tag, job, pool.submit(fn, job)))
            while sum(f is not None for _, _, f in in_flight) >= 2 * workers:
                yield _result(*in_flight.popleft(), describe)
        while in_flight:
            yield _result(*in_flight.popleft(), describe)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(tag: T, job: J | None, future: Future | None, describe: Callable[[J], str]) -> tuple[T, R | None]:
    if future is None:
        return tag, None
    try:
        return tag, future.result()
    except BrokenProcessPool as error:
        raise FitJobError(f"{describe(job)}: its worker process died ({error}); out of memory?") from error
    except Exception as error:
        raise FitJobError(f"{describe(job)}: {type(error).__name__}: {error}") from error


@contextmanager
def _one_thread_env():
    """``ONE_THREAD_ENV`` in this process's environment while workers are spawned, then as it was."""
    saved = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
    os.environ.update(ONE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_thread_worker() -> None:
    """Worker start: torch's intra- and inter-op pools to one thread (its API: the pool may
    have been sized before the environment was read)."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already used: it can be set once per process
        pass
