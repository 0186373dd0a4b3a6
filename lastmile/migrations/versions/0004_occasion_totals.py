"""Occasion and default figures folded into totals up to a checkpoint (issue 17), built from the
rows that are there: the figures of a big store are then a few thousand rows' sums.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from lastmile.migrations import rows

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_index("ix_occasion_settled", "occasions", ["closed_at", "opened_at"])
    op.create_table(
        "occasion_totals",
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("within", sa.String(64), nullable=False),
        sa.Column("by", sa.String(8), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("item", sa.String(128), nullable=False),
        sa.Column("wait_s", sa.Float, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint(
            "rule", "within", "by", "key", "kind", "item", "wait_s", name="pk_occasion_totals"
        ),
    )
    op.create_index("ix_default_occurred", "ledger_defaults", ["occurred_at"])
    op.create_index("ix_default_overridden", "ledger_defaults", ["overridden_at"])
    op.create_table(
        "default_totals",
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("overridden", sa.Boolean, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("rule", "field", "owner", "overridden", name="pk_default_totals"),
    )
    op.create_table(
        "occasion_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("folded_before", TIME, nullable=False),
    )
    # Folded up to yesterday at the end of the upgrade (migrations/rows.py), with progress.
    rows.want(context.config.attributes, rows.TOTALS)


def downgrade() -> None:
    op.drop_table("occasion_checkpoint")
    op.drop_table("default_totals")
    op.drop_table("occasion_totals")
    op.drop_index("ix_default_overridden", "ledger_defaults")
    op.drop_index("ix_default_occurred", "ledger_defaults")
    op.drop_index("ix_occasion_settled", "occasions")
