"""The prompt budget (issue 19): snapshots keep the record's owner, how many prompts it shows and
the prompts held back for want of room; observations and occasion rows say whether a prompt was
held back (`suppressed`).

Snapshots made before this migration get their owner and count from their own columns; nothing
was held back before, so no observation or occasion is suppressed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from lastmile.users import user_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("snapshots") as table:
        table.add_column(sa.Column("owner", sa.String(64)))
        table.add_column(sa.Column("shown", sa.Integer, nullable=False, server_default="0"))
        table.add_column(sa.Column("held", sa.JSON))
        table.create_index("ix_snapshot_owner", ["owner"])
    with op.batch_alter_table("ledger_observations") as table:
        table.add_column(sa.Column("suppressed", sa.Boolean))
    with op.batch_alter_table("occasions") as table:
        table.add_column(
            sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false())
        )
    _fill_snapshots(op.get_bind())


def _fill_snapshots(conn: sa.Connection) -> None:
    """Each snapshot's owner (from its fields) and the number of prompts it shows."""
    s = sa.table(
        "snapshots",
        sa.column("object", sa.String),
        sa.column("record_id", sa.String),
        sa.column("fields", sa.JSON),
        sa.column("prompts", sa.JSON),
        sa.column("owner", sa.String),
        sa.column("shown", sa.Integer),
    )
    update = (
        s.update()
        .where(s.c.object == sa.bindparam("o"), s.c.record_id == sa.bindparam("r"))
        .values(owner=sa.bindparam("owner"), shown=sa.bindparam("shown"))
    )
    query = sa.select(s.c.object, s.c.record_id, s.c.fields, s.c.prompts)
    found = conn.execute(query.order_by(s.c.object, s.c.record_id)).all()
    for start in range(0, len(found), BATCH):
        values = []
        for obj, rid, fields, prompts in found[start : start + BATCH]:
            owner = (fields or {}).get("OwnerId")
            values.append(
                {
                    "o": obj,
                    "r": rid,
                    "owner": user_key(owner) if isinstance(owner, str) and owner else None,
                    "shown": len(prompts or {}),
                }
            )
        conn.execute(update, values)


def downgrade() -> None:
    with op.batch_alter_table("occasions") as table:
        table.drop_column("suppressed")
    with op.batch_alter_table("ledger_observations") as table:
        table.drop_column("suppressed")
    with op.batch_alter_table("snapshots") as table:
        table.drop_index("ix_snapshot_owner")
        for name in ("held", "shown", "owner"):
            table.drop_column(name)
