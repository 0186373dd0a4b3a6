"""The connection to the store's database: engine, transactions, migrations, health."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ..settings import Settings

BUSY_TIMEOUT_MS = 15_000


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys, and writers that take
    the write lock when they begin (so two writers never deadlock upgrading a read lock)."""
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    memory = sa_url.database in (None, "", ":memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        **({"poolclass": StaticPool} if memory else {}),
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would BEGIN late and deferred; take it over.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lastmile_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """An engine and the transaction helpers the store's parts share."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name

    @classmethod
    def from_settings(cls, settings: Settings):
        return cls(settings.database_url)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(lastmile_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        """INSERT that leaves an existing row (same unique key) alone, on SQLite and PostgreSQL."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table).on_conflict_do_nothing()

    def upgrade(self) -> None:
        """Apply the Alembic migrations up to the newest (a no-op when already there)."""
        config = Config()
        location = str(resources.files("lastmile") / "migrations")
        config.set_main_option("script_location", location.replace("%", "%%"))
        with self.writing() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def revision(self) -> str | None:
        """The Alembic revision the database is at (None: not migrated yet)."""
        from alembic.runtime.migration import MigrationContext

        with self.reading() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def ping(self) -> bool:
        """True when the database answers (for /readyz); raises the driver's error when not."""
        with self.reading() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True

    def close(self) -> None:
        self.engine.dispose()
