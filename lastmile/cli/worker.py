"""`lastmile worker` (a Celery worker) and `lastmile beat` (its schedule): scale-out mode, with
LASTMILE_BROKER_URL and (for more than one worker process) a PostgreSQL LASTMILE_DATABASE_URL."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lastmile.cli.common import config_option, load_settings

if TYPE_CHECKING:
    from lastmile.settings import Settings


def _settings(config_file: Path | None) -> Settings:
    settings = load_settings(config_file)
    if not settings.broker_url:
        raise click.ClickException(
            "LASTMILE_BROKER_URL is not set: scale-out mode needs a broker, e.g. "
            "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672// "
            "(on one machine without one, `lastmile serve` runs an embedded worker)"
        )
    return settings


def _app(settings: Settings):
    from lastmile.celery_app import make_celery
    from lastmile.logs import configure_logging
    from lastmile.runtime import Runtime

    configure_logging(settings.log_level)
    return make_celery(settings, Runtime.build)


def _check_store(settings: Settings) -> None:
    """Migrate and reach the store once, before forking, with a message a person can act on."""
    from sqlalchemy.exc import SQLAlchemyError

    from lastmile.store import Store
    from lastmile.store.database import DatabaseUrlError

    try:
        store = Store.from_settings(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store.upgrade(integration_user=settings.integration_user_id)
        if store.dialect == "sqlite":
            click.echo(
                "warning: SQLite store: run ONE worker process (--concurrency 1); "
                "several workers need PostgreSQL (LASTMILE_DATABASE_URL=postgresql://...)",
                err=True,
            )
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the database at LASTMILE_DATABASE_URL cannot be used ({type(exc).__name__}): "
            "is it running and does the database exist?"
        ) from None
    finally:
        store.close()


@click.command()
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 512),
    default=None,
    help="Worker processes (default: one per CPU).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "solo", "threads"]),
    default="prefork",
    show_default=True,
    help="How Celery runs tasks: processes, in the main process, or threads.",
)
@click.option("-n", "--hostname", default=None, help="Worker name (default: celery@HOST).")
@config_option
def worker(
    concurrency: int | None, pool: str, hostname: str | None, config_file: Path | None
) -> None:
    """Run a Celery worker: takes events off the broker and processes them (scale-out)."""
    settings = _settings(config_file)
    if pool == "threads" and concurrency is not None:
        from lastmile.store.database import pool_for_threads

        # Each thread holds a connection for its record lock and one for its work.
        needed = pool_for_threads(concurrency)
        if settings.database_pool_size < needed:
            settings = settings.model_copy(update={"database_pool_size": needed})
    app = _app(settings)
    _check_store(settings)
    argv = [
        "worker",
        f"--pool={pool}",
        f"--loglevel={settings.log_level.upper()}",
        f"--queues={','.join(app.conf.lastmile_queues)}",
        "--without-gossip",  # workers need not know each other: the database coordinates them
        "--without-mingle",
    ]
    if concurrency is not None:
        argv.append(f"--concurrency={concurrency}")
    if hostname is not None:
        argv.append(f"--hostname={hostname}")
    app.worker_main(argv)


@click.command()
@click.option(
    "--schedule-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(tempfile.gettempdir()) / "lastmile-beat-schedule",
    show_default=True,
    help="Where beat keeps when each job last ran.",
)
@config_option
def beat(schedule_file: Path, config_file: Path | None) -> None:
    """Run the schedule (exactly one): the inbox sweeper and the deadlines, as Celery tasks.

    The workers run the tasks; more than one beat would run each job twice."""
    settings = _settings(config_file)
    app = _app(settings)
    app.Beat(schedule=str(schedule_file), loglevel=settings.log_level.upper()).run()
