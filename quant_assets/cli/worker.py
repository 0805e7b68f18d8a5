"""``quant-assets worker``: a Celery worker that runs the steps of runs launched with
``QUANT_ASSETS_EXECUTOR=celery``, with this project's code and settings, in the foreground."""

from __future__ import annotations

import socket
import uuid

import click

from quant_assets.executors import CeleryConfig, celery_config, worker_concurrency


def worker_argv(config: CeleryConfig, concurrency: int, name: str, loglevel: str) -> list[str]:
    """``celery worker``'s arguments: our queue, how many steps at once, the node name."""
    return [
        "worker",
        "--queues", config.queue,
        "--concurrency", str(concurrency),
        # A step can run for minutes; a worker that prefetched more would sit on them.
        "--prefetch-multiplier", "1",
        "--hostname", name,
        "--loglevel", loglevel,
    ]  # fmt: skip


@click.command(
    help=(
        "Start a Celery worker for QUANT_ASSETS_EXECUTOR=celery runs, in the foreground (stop it with "
        "Ctrl-C or SIGTERM to its PID). It listens on QUANT_ASSETS_CELERY_QUEUE of QUANT_ASSETS_CELERY_BROKER "
        "and runs QUANT_ASSETS_CELERY_CONCURRENCY steps at once; give it the same QUANT_ASSETS_* settings "
        "as the process that launches the runs (see deploy/shared.env.example)."
    )
)
@click.option("--name", default=None, help="Celery node name (default qa-<random>@<host>).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery log level.")
def worker(name: str | None, loglevel: str) -> None:
    config, concurrency = celery_config(), worker_concurrency()
    # Load the code location now, in this process: a bad setting stops the worker here with its
    # one line, and the pool's processes, forked from this one, start with the code loaded
    # instead of importing it again on their first step.
    import quant_assets.definitions  # noqa: F401
    from quant_assets.instance import prepare_dagster_home

    prepare_dagster_home()
    # dagster-celery's app holds the execute_plan task that runs one Dagster step.
    from dagster_celery.app import app

    app.conf.update(broker_url=config.broker, result_backend=config.backend)
    argv = worker_argv(config, concurrency, name or f"qa-{uuid.uuid4().hex[:8]}@{socket.gethostname()}", loglevel)
    click.echo(f"quant-assets worker: {config.broker}, queue {config.queue}, {concurrency} processes", err=True)
    # In this process, not a child: the PID a person or a test holds is the worker itself.
    app.worker_main(argv)
