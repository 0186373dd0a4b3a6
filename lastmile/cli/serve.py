"""`lastmile serve`: the production receiver under gunicorn."""

from __future__ import annotations

from pathlib import Path

import click

from lastmile.cli.common import config_option, load_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@config_option
def serve(host: str, port: int, config_file: Path | None) -> None:
    """Run the webhook receiver with its embedded worker under gunicorn.

    Configured by LASTMILE_* settings (or --config); with LASTMILE_BROKER_URL it only stores and
    enqueues for `lastmile worker`.
    """
    from lastmile.logs import configure_logging
    from lastmile.runtime import ConfigError, Runtime
    from lastmile.serving import serve as run
    from lastmile.store.database import DatabaseUrlError

    settings = load_settings(config_file)
    configure_logging(settings.log_level, cache=True)
    try:  # fail here, before gunicorn forks, with a message a person can act on
        Runtime.build(settings).store.ping()
    except (ConfigError, DatabaseUrlError) as exc:
        raise click.ClickException(str(exc)) from None
    run(host, port, lambda: Runtime.build(settings), broker=bool(settings.broker_url))
