"""A PostgreSQL database of a test's own, for every test folder (pytest puts `tests/` on
sys.path): `postgres_problem()` says why there is none, `postgres_database()` makes one. A test
that gets a problem passes it to the `need_service` fixture (skip here, fail in CI)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

PG_ADMIN_URL = os.environ.get("LASTMILE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

_serial = itertools.count(1)


def _admin_engine(**options: object) -> sa.Engine:
    return sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"),
        poolclass=NullPool,  # a connection per use: the restart test kills pooled ones
        **options,
    )


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    try:
        engine = _admin_engine(connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"{PG_ADMIN_URL}: {type(exc).__name__}"
    return None


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database `lastmile_test_<pid>_<n>` (its URL); dropped afterwards."""
    name = f"lastmile_test_{os.getpid()}_{next(_serial)}"
    admin = _admin_engine(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
