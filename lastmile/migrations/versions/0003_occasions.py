"""Occasions kept as rows, and who overrode a default when (issue 17), built from the ledger
that is there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from lastmile.migrations import rows

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "occasions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("opened_event_id", sa.String(255), nullable=False),
        sa.Column("opened_inbox_id", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("opened_week", sa.String(8), nullable=False),
        sa.Column("deadline", TIME),
        sa.Column("within", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("closed_at", TIME),
        sa.Column("missed_from", TIME),
        sa.Column("time_to_comply_s", sa.Float),
        sa.Column("fields_missing", sa.Text, nullable=False),
        sa.Column("rules_version", sa.String(64)),
    )
    op.create_index("ix_occasion_record", "occasions", ["object", "record_id"])
    op.create_index(
        "ix_occasion_figures",
        "occasions",
        [
            "rule",
            "owner",
            "opened_week",
            "opened_at",
            "outcome",
            "closed_at",
            "missed_from",
            "within",
            "fields_missing",
            "time_to_comply_s",
        ],
    )
    op.add_column("ledger_defaults", sa.Column("owner", sa.String(64)))
    op.add_column("ledger_defaults", sa.Column("overridden_at", TIME))
    # The rows are built from the ledger at the end of the upgrade (migrations/rows.py): that
    # code reads today's tables, which have columns this revision does not.
    rows.want(context.config.attributes, rows.OCCASIONS)


def downgrade() -> None:
    with op.batch_alter_table("ledger_defaults") as batch:  # SQLite drops columns by copying
        batch.drop_column("overridden_at")
        batch.drop_column("owner")
    op.drop_index("ix_occasion_figures", "occasions")
    op.drop_index("ix_occasion_record", "occasions")
    op.drop_table("occasions")
