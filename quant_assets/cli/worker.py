"""``quant-assets worker``: a Celery worker that runs the steps of runs launched with
``QUANT_ASSETS_EXECUTOR=celery``, with this project's code and settings, in the foreground."""

from __future__ import annotations

import os
import socket
import sys
import uuid

import click

from quant_assets.execution import celery_config, worker_concurrency


def worker_command(name: str, loglevel: str) -> list[str]:
    """The ``celery worker`` command line: dagster-celery's app, our broker, results and queue."""
    config, concurrency = celery_config(), worker_concurrency()
    return [
        sys.executable, "-m", "celery",
        "--app", "dagster_celery.app",  # the app whose execute_plan task runs one Dagster step
        "--broker", config.broker,
        "--result-backend", config.backend,
        "worker",
        "--queues", config.queue,
        "--concurrency", str(concurrency),
        # A step can run for minutes; a worker that prefetched more would sit on them.
        "--prefetch-multiplier", "1",
        "--hostname", name,
        "--loglevel", loglevel,
    ]  # fmt: skip


@click.command(help=(
    "Start a Celery worker for QUANT_ASSETS_EXECUTOR=celery runs, in the foreground (stop it with "
    "Ctrl-C or SIGTERM to its PID). It listens on QUANT_ASSETS_CELERY_QUEUE of QUANT_ASSETS_CELERY_BROKER "
    "and runs QUANT_ASSETS_CELERY_CONCURRENCY steps at once; give it the same QUANT_ASSETS_* settings "
    "as the process that launches the runs (see deploy/shared.env.example)."
))
@click.option("--name", default=None, help="Celery node name (default qa-<random>@<host>).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery log level.")
def worker(name: str | None, loglevel: str) -> None:
    from quant_assets.instance import prepare_dagster_home

    command = worker_command(name or f"qa-{uuid.uuid4().hex[:8]}@{socket.gethostname()}", loglevel)
    # Load the code location here, once: a bad setting stops the worker now with its one line,
    # not later inside every step it takes.
    import quant_assets.definitions  # noqa: F401

    prepare_dagster_home()
    click.echo(f"worker: {' '.join(command[1:])}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # exec, not a child: the PID a person or a test holds is the Celery worker itself.
    os.execv(sys.executable, command)
