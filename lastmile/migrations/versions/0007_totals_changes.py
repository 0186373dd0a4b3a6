"""Which totals a reader sees (issue 17): the checkpoint counts its folds and refolds
(`generation`), and `totals_changes` holds a row per transaction that corrected the totals since,
so that figures read from the totals can be kept in the process until the totals change
(measure/tally.py). The index the figures read instead of the rows covers again every column
they read (`fields_placeholder` and `suppressed` came with 0005 and 0006).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from lastmile.migrations import rows

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FIGURES = [
    "rule", "owner", "opened_week", "opened_at", "outcome", "closed_at", "missed_from", "within",
    "fields_missing", "time_to_comply_s",
]  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("occasion_checkpoint") as table:
        table.add_column(sa.Column("generation", sa.Integer, nullable=False, server_default="0"))
    op.create_table("totals_changes", sa.Column("id", sa.Integer, primary_key=True))
    op.drop_index("ix_occasion_figures", "occasions")
    op.create_index(
        "ix_occasion_figures", "occasions", [*FIGURES, "fields_placeholder", "suppressed"]
    )
    # The newest revision builds what earlier ones of this upgrade asked for: move this call to
    # a newer revision when there is one.
    rows.build(op.get_bind(), context.config.attributes)


def downgrade() -> None:
    op.drop_index("ix_occasion_figures", "occasions")
    op.create_index("ix_occasion_figures", "occasions", FIGURES)
    op.drop_table("totals_changes")
    with op.batch_alter_table("occasion_checkpoint") as table:
        table.drop_column("generation")
