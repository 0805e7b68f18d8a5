"""Which Dagster executor runs the steps of a run, chosen by one setting.

``QUANT_ASSETS_EXECUTOR``:

- ``in_process`` (default): every step in the run's own process. Steps here are vectorised
  over a whole partition range, so a process per step buys little and costs a fresh import of
  the project per step (``benchmarks/bench_celery.py``, a 6-step backfill of 126 asset
  partitions on this 2-core machine: 24 s in-process, 65 s multiprocess, 34 s on a Celery worker).
- ``multiprocess``: Dagster's own default, one process per step.
- ``celery``: every step is a Celery task on the broker ``QUANT_ASSETS_CELERY_BROKER``
  (default the machine's Redis), run by whichever ``quant-assets worker`` takes it, on this
  machine or another. ``quant-assets`` commands then launch their runs through the executor too
  (``quant_assets.runs.materialize``), so a partition range fans out to the workers.

Celery needs what every worker can reach: the Dagster instance on PostgreSQL
(``QUANT_ASSETS_PG_URL``), the lake, MLflow and the ledger on shared stores; see
``deploy/shared.env.example``. A worker builds the definitions from its own environment, so
it must get the same ``QUANT_ASSETS_*`` settings as the process that launches the runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from dagster import (
    AssetSelection,
    Definitions,
    ExecutorDefinition,
    JobDefinition,
    build_reconstructable_job,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)

from quant_assets import settings

EXECUTORS = settings.EXECUTORS


def executor_kind() -> str:
    return settings.current().execution.executor


@dataclass(frozen=True)
class CeleryConfig:
    """What the executor and every worker must agree on (broker, results, queue)."""

    broker: str
    backend: str
    queue: str

    def executor_config(self) -> dict:
        """``celery_executor``'s config; the worker's Celery app gets the same values. A URL
        that came from the environment goes as its variable (``{"env": ...}``, resolved in the
        run's process), never its value: a broker URL may carry a password."""
        return {
            "broker": _from_env(self.broker, "QUANT_ASSETS_CELERY_BROKER"),
            "backend": _from_env(self.backend, "QUANT_ASSETS_CELERY_BACKEND", "QUANT_ASSETS_CELERY_BROKER"),
            # Steps go to this queue; a worker listens on it (``quant-assets worker``).
            "config_source": {"task_default_queue": self.queue},
        }


def _from_env(value: str, *names: str) -> str | dict:
    """``value`` as the first of ``names`` that holds it exactly, else the value itself (a default)."""
    return next(({"env": name} for name in names if os.environ.get(name) == value), value)


def celery_config() -> CeleryConfig:
    """``QUANT_ASSETS_CELERY_BROKER`` (default the machine's Redis), ``_BACKEND`` (default: the
    broker when it is Redis, else Celery's ``rpc://`` over the broker) and ``_QUEUE``."""
    execution = settings.current().execution
    return CeleryConfig(execution.celery_broker, execution.backend, execution.celery_queue)


def worker_concurrency() -> int:
    """Steps one worker runs at once (``QUANT_ASSETS_CELERY_CONCURRENCY``, default the CPU count)."""
    return settings.current().execution.celery_concurrency


_WORKERS_SEEN: set[tuple[str, str]] = set()  # (broker, queue) a worker was seen on, in this process


def require_worker(config: CeleryConfig, timeout_s: float = 2.0) -> None:
    """Refuse, in one line, to launch runs that no worker would take: the Celery executor
    waits for its tasks without end, so a missing worker would look like a hung command.

    Asked once per process and queue (the broadcast waits ``timeout_s`` for every reply)."""
    from celery import Celery  # loaded only by those who run on Celery, as in executor()

    if (config.broker, config.queue) in _WORKERS_SEEN:
        return

    app = Celery(broker=config.broker)
    try:
        replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    except Exception as err:  # kombu raises the transport's own connection errors
        reason = " ".join(str(err).split()) or type(err).__name__
        raise settings.SettingsError(f"QUANT_ASSETS_CELERY_BROKER={config.broker!r} is not reachable ({reason})") from None
    finally:
        app.close()
    if not any(q.get("name") == config.queue for queues in replies.values() for q in queues):
        raise settings.SettingsError(
            f"QUANT_ASSETS_EXECUTOR=celery but no worker listens on queue {config.queue!r} of {config.broker}; "
            "start one with `quant-assets worker` (same QUANT_ASSETS_* settings)"
        )
    _WORKERS_SEEN.add((config.broker, config.queue))


def executor() -> ExecutorDefinition:
    """The executor of the one ``Definitions`` (every job's, the asset jobs' included)."""
    kind = executor_kind()
    if kind == "multiprocess":
        return multiprocess_executor
    if kind == "celery":
        # Imported here: Celery and its broker client load only for those who use them.
        from dagster_celery import celery_executor

        return celery_executor.configured(celery_config().executor_config(), name="celery")
    return in_process_executor


def runs_out_of_process(defs: Definitions) -> bool:
    """Whether ``runs.materialize`` launches the runs of ``defs`` through their executor (Celery)
    rather than in-process; definitions without one (a test's own) always run in-process."""
    return getattr(defs.executor, "name", None) == "celery"


# ---- runs launched by quant-assets commands ---------------------------------------------

# Definitions metadata naming the builder a worker calls to rebuild the same job.
JOB_BUILDER_KEY = "quant_assets/job_builder"
JOB_BUILDERS = ("definitions", "bundle")
RUN_JOB = "quant_assets_materialize"  # the job name runs launched through a pointer carry
# The module whose ``asset_job(builder, assets)`` a worker calls to rebuild a run's job: the top
# of the house, which wires the Definitions. Named here, as workspace.yaml names it, never
# imported: this module sits below it, and the launching process hands ``runs.materialize``
# the Definitions themselves.
JOB_MODULE = "quant_assets.definitions"
JOB_FUNCTION = "asset_job"


def reconstructable_asset_job(builder: str, assets: Sequence[str]):
    """The job of ``assets`` (and their checks) as a pointer a worker can load:
    ``asset_job(builder, assets)`` of ``JOB_MODULE`` (what ``build_reconstructable_job``
    returns; Dagster exports no public name for its type)."""
    if builder not in JOB_BUILDERS:
        raise ValueError(f"no job builder {builder!r}; expected one of {', '.join(JOB_BUILDERS)}")
    return build_reconstructable_job(JOB_MODULE, JOB_FUNCTION, reconstructable_args=(builder, list(assets)))


def run_job(defs: Definitions, assets: Sequence[str]) -> JobDefinition:
    """The job of ``assets`` (and their checks) in ``defs``: what a worker's pointer rebuilds
    from the definitions its builder returns."""
    # Dagster will not load its implicit __ASSET_JOB through a pointer (a reserved name), so
    # the pointer names a job of the run's assets (one partitioning, as a run's assets have).
    job = define_asset_job(RUN_JOB, selection=AssetSelection.assets(*assets))
    runnable = Definitions.merge(defs, Definitions(jobs=[job]))
    return runnable.resolve_job_def(RUN_JOB)


def job_builder(defs: Definitions) -> str:
    value = (defs.metadata or {}).get(JOB_BUILDER_KEY)
    return getattr(value, "value", value) or "definitions"
