"""The connection to the store's database: engine, transactions, migrations, health."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ..settings import Settings

BUSY_TIMEOUT_MS = 15_000

# PostgreSQL pool: a worker thread uses one connection for its work and one for the record lock
# it holds meanwhile; a receiver one per request thread. `pool_size` connections at most
# (LASTMILE_DATABASE_POOL_SIZE), half of them kept open.
PG_POOL_SIZE = 20
_SPARE = 2  # connections kept for what is not a worker thread (the receiver's requests)


def pool_for_threads(threads: int) -> int:
    """The PostgreSQL pool a process of `threads` worker threads needs."""
    return 2 * threads + _SPARE


def threads_for_pool(pool_size: int) -> int:
    """The worker threads a PostgreSQL pool of `pool_size` connections serves."""
    return max(1, (pool_size - _SPARE) // 2)


PG_POOL = {
    "pool_timeout": 30,
    "pool_recycle": 1800,  # below the idle timeouts of common proxies (PgBouncer, cloud LBs)
    "pool_pre_ping": True,  # a connection the server dropped (a restart) is replaced, not used
}
PG_CONNECT_TIMEOUT_S = 10
MIGRATE_LOCK = 0x4C4D_0001  # the advisory lock key `upgrade` takes on PostgreSQL ("LM" 1)


class DatabaseUrlError(ValueError):
    """LASTMILE_DATABASE_URL names no database Lastmile can use; the message says what to set."""


def normalize_url(url: str) -> str:
    """`url` with the driver Lastmile uses: PostgreSQL through psycopg 3 (`postgresql://` and
    `postgres://` become `postgresql+psycopg://`); SQLite as given."""
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseUrlError(
            "LASTMILE_DATABASE_URL is not a database URL: use sqlite:///path/to/lastmile.db "
            "or postgresql://user:password@host:5432/dbname"
        ) from None
    backend, _, driver = sa_url.drivername.partition("+")
    if backend in ("postgresql", "postgres"):
        if driver not in ("", "psycopg"):
            raise DatabaseUrlError(
                f"PostgreSQL driver {driver!r} is not supported: use postgresql://... "
                "(Lastmile talks to PostgreSQL through psycopg 3)"
            )
        sa_url = sa_url.set(drivername="postgresql+psycopg")
        return sa_url.render_as_string(hide_password=False)
    if backend != "sqlite":
        raise DatabaseUrlError(
            f"database {backend!r} is not supported: use sqlite:///... (one machine) "
            "or postgresql://... (scale-out)"
        )
    return url


def missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite file `url` names when that file does not exist (connecting would
    create it), else None (a server database, memory, or a file that is there)."""
    sa_url = sa.make_url(normalize_url(url))
    if not sa_url.drivername.startswith("sqlite") or sa_url.database in (None, "", ":memory:"):
        return None
    if sa_url.database.startswith("file:"):  # a URI filename: SQLite's own rules apply
        return None
    return None if Path(sa_url.database).exists() else sa_url.database


def make_engine(url: str, pool_size: int = PG_POOL_SIZE) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout, foreign keys, and writers that take
    the write lock when they begin (so two writers never deadlock upgrading a read lock).
    PostgreSQL gets psycopg 3 and a pool that replaces connections a server restart broke."""
    url = normalize_url(url)
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        kept = (pool_size + 1) // 2
        return sa.create_engine(
            url,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S},
            pool_size=kept,
            max_overflow=pool_size - kept,
            **PG_POOL,
        )
    memory = sa_url.database in (None, "", ":memory:")
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        # Threads keep their connections (`Database._connection`): no limit to wait on.
        **({"poolclass": StaticPool} if memory else {"pool_size": 0}),
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
        # Straight to the driver: this runs for every transaction, and SQLAlchemy's execution
        # machinery around a bare BEGIN cost the worker a tenth of its time.
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Database:
    """An engine and the transaction helpers the store's parts share."""

    def __init__(self, url: str, pool_size: int = PG_POOL_SIZE) -> None:
        self.url = normalize_url(url)
        self.pool_size = pool_size  # PostgreSQL connections at most (SQLite: one a thread)
        self.engine = make_engine(self.url, pool_size)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer at a time. Threads of this process queue here rather than in
        # SQLite's busy handler, whose sleeps (up to 100 ms each) made the p99 of an Ack 0.8 s.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else nullcontext()
        self._local = threading.local()  # SQLite: each thread's connection (`_connection`)

    @classmethod
    def from_settings(cls, settings: Settings):
        return cls(settings.database_url, pool_size=settings.database_pool_size)

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._write_lock, self._connection(write=True) as conn, conn.begin():
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self._connection(write=False) as conn, conn.begin():
            yield conn

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        """A connection for one transaction. On SQLite each thread keeps its own between
        transactions: checking one out of the pool cost the worker a fifth of its time, and an
        SQLite file has no server to go away. PostgreSQL's come from the pool, whose pre-ping
        replaces what a server restart broke."""
        role = "writer" if write else "reader"  # two each: no options to switch per transaction
        kept = getattr(self._local, role, None)
        if self.dialect != "sqlite" or (kept is not None and kept.in_transaction()):
            # From the pool: PostgreSQL always; SQLite for a transaction inside another.
            with self.engine.connect() as conn:
                yield conn.execution_options(lastmile_write=write)
            return
        if kept is None or kept.closed or kept.invalidated:
            kept = self.engine.connect().execution_options(lastmile_write=write)
            setattr(self._local, role, kept)
        yield kept

    def insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        """INSERT that leaves an existing row (same unique key) alone, on SQLite and PostgreSQL."""
        return self._insert(table).on_conflict_do_nothing()

    def upsert(self, table: sa.Table, key: Sequence[str]) -> Any:
        """INSERT that updates the row with the same `key` instead, on SQLite and PostgreSQL."""
        statement = self._insert(table)
        return statement.on_conflict_do_update(
            index_elements=list(key),
            set_={c.name: statement.excluded[c.name] for c in table.c if c.name not in key},
        )

    def _insert(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    def upgrade(
        self,
        within: Mapping[str, Any] | None = None,
        integration_user: str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        """Apply the Alembic migrations up to the newest (a no-op when already there). A
        migration that builds rows from the ledger uses the rules' `within` (rule -> Duration)
        and the integration user's id, and reports `progress(what, done, of)`."""
        config = Config()
        config.attributes.update(
            within=within, integration_user=integration_user, progress=progress
        )
        location = str(resources.files("lastmile") / "migrations")
        config.set_main_option("script_location", location.replace("%", "%%"))
        with self.writing() as conn:
            if self.dialect == "postgresql":
                # Every worker and receiver upgrades at start; on PostgreSQL they take turns
                # (the lock ends with this transaction), so the second finds the tables made.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK})
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
        for role in ("reader", "writer"):
            kept = getattr(self._local, role, None)
            if kept is not None:
                kept.close()
        self.engine.dispose()
