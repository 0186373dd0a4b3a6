"""Alembic migrations of the store; applied by `Store.upgrade()` and `lastmile db upgrade`."""
