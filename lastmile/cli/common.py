"""What the commands that read the store or the CRM share: `--config FILE`, the settings read
once, and a store that is opened, never created by accident."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from lastmile.settings import Settings
    from lastmile.store import Store

F = TypeVar("F", bound=Callable[..., Any])

CONFIG_HELP = (
    "A file of KEY=value lines with LASTMILE_* names (as `lastmile demo` writes to "
    "<data>/lastmile.env and `lastmile sandbox` prints); environment variables take precedence."
)


def config_option(f: F) -> F:
    """`--config FILE`, passed to the command as `config_file`."""
    return click.option(
        "--config",
        "config_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help=CONFIG_HELP,
    )(f)


def load_settings(config_file: Path | None) -> Settings:
    """The LASTMILE_* settings (from the environment, then `config_file`), or a clear error."""
    from pydantic import ValidationError

    from lastmile.settings import Settings

    try:
        return Settings(_env_file=config_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        lines = "\n".join(
            f"  LASTMILE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise click.ClickException(f"bad LASTMILE_* setting:\n{lines}") from None


@contextmanager
def open_store(settings: Settings, *, create: bool = False) -> Iterator[Store]:
    """The store LASTMILE_DATABASE_URL names. A SQLite file that is not there is an error, not a
    new empty database, unless `create` (`lastmile db upgrade`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from lastmile.store import Store
    from lastmile.store.database import DatabaseUrlError, missing_sqlite_file

    try:
        missing = None if create else missing_sqlite_file(settings.database_url)
        if missing is not None:
            raise click.ClickException(
                f"no database at {missing} (LASTMILE_DATABASE_URL={settings.database_url}). "
                "Point --config or LASTMILE_DATABASE_URL at Lastmile's database (the demo "
                "writes <data>/lastmile.env), or create a new one with `lastmile db upgrade`."
            )
        store = Store.from_settings(settings)
    except DatabaseUrlError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the database could not be read ({type(exc).__name__}); if it is new, "
            "create its tables with `lastmile db upgrade`"
        ) from None
    finally:
        store.close()


def time_value(_ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An option's ISO time or date (UTC when no zone is given), as a datetime; None if unset."""
    if value is None:
        return None
    from lastmile.measure.indicators import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param=param) from None
