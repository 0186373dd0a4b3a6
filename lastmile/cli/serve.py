"""`lastmile serve`: the production receiver (waitress, one process, eight threads)."""

from __future__ import annotations

from pathlib import Path

import click

from lastmile.cli.common import config_option, load_settings


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@config_option
def serve(host: str, port: int, config_file: Path | None) -> None:
    """Run the webhook receiver with its embedded worker.

    Configured by LASTMILE_* settings (or --config); with LASTMILE_BROKER_URL it only stores and
    enqueues for `lastmile worker`. Stops cleanly on SIGINT or SIGTERM.
    """
    from lastmile.logs import configure_logging
    from lastmile.runtime import ConfigError, Runtime
    from lastmile.serving import serve as run
    from lastmile.store.database import DatabaseUrlError

    settings = load_settings(config_file)
    configure_logging(settings.log_level, cache=True)
    try:  # fail here, with a message a person can act on
        runtime = Runtime.build(settings)
        runtime.store.ping()
    except (ConfigError, DatabaseUrlError) as exc:
        raise click.ClickException(str(exc)) from None
    runtime.start()
    try:
        run(runtime.app(), host, port, max_body_bytes=2 * settings.max_body_bytes)
    finally:
        runtime.stop()
