"""`lastmile worker` (a Celery worker) and `lastmile beat` (its schedule): scale-out mode, with
LASTMILE_BROKER_URL and (for more than one worker process) a PostgreSQL LASTMILE_DATABASE_URL."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from pydantic import ValidationError

from .settings import Settings

CONFIG_HELP = "A file of KEY=value lines (LASTMILE_* names); environment variables take precedence."


def _settings(config_file: Path | None) -> Settings:
    try:
        settings = Settings(_env_file=config_file)
    except ValidationError as exc:
        raise click.ClickException(f"bad LASTMILE_* setting: {exc}") from None
    if not settings.broker_url:
        raise click.ClickException(
            "LASTMILE_BROKER_URL is not set: scale-out mode needs a broker, e.g. "
            "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672// "
            "(on one machine without one, `lastmile serve` runs an embedded worker)"
        )
    return settings


def _app(settings: Settings):
    from .celery_app import make_celery
    from .logs import configure_logging

    configure_logging(settings.log_level)
    return make_celery(settings)


def _check_store(settings: Settings) -> None:
    """Migrate and reach the store once, before forking, with a message a person can act on."""
    from sqlalchemy.exc import SQLAlchemyError

    from .store import Store
    from .store.database import DatabaseUrlError

    try:
        store = Store.from_settings(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        store.upgrade()
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=CONFIG_HELP,
)
def worker(
    concurrency: int | None, pool: str, hostname: str | None, config_file: Path | None
) -> None:
    """Run a Celery worker: takes events off the broker and processes them (scale-out mode)."""
    settings = _settings(config_file)
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
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=CONFIG_HELP,
)
def beat(schedule_file: Path, config_file: Path | None) -> None:
    """Run the schedule (run exactly one): the inbox sweeper and the deadlines, as Celery tasks
    for the workers."""
    settings = _settings(config_file)
    app = _app(settings)
    app.Beat(schedule=str(schedule_file), loglevel=settings.log_level.upper()).run()


@click.group()
def cli() -> None:
    """Scale-out commands (also registered on `lastmile`)."""


cli.add_command(worker)
cli.add_command(beat)

if __name__ == "__main__":
    cli()
