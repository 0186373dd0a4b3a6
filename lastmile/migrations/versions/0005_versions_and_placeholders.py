"""Observations and occasion rows keep the fields seen with a placeholder value, the rule's own
version (issue 18: before and after) and an experiment's arm (issue 19).

Rows made before this migration have no rule version (their figures are "before versions were
kept") and no placeholders; nothing is derived again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_observations") as table:
        table.add_column(sa.Column("placeholder", sa.JSON))
        table.add_column(sa.Column("rule_version", sa.String(64)))
        table.add_column(sa.Column("experiment", sa.String(80)))
        table.add_column(sa.Column("arm", sa.String(80)))
    with op.batch_alter_table("occasions") as table:
        table.add_column(
            sa.Column("fields_placeholder", sa.Text, nullable=False, server_default="|")
        )
        table.add_column(sa.Column("rule_version", sa.String(64)))
        table.add_column(sa.Column("experiment", sa.String(80)))
        table.add_column(sa.Column("arm", sa.String(80)))


def downgrade() -> None:
    with op.batch_alter_table("occasions") as table:
        for name in ("arm", "experiment", "rule_version", "fields_placeholder"):
            table.drop_column(name)
    with op.batch_alter_table("ledger_observations") as table:
        for name in ("arm", "experiment", "rule_version", "placeholder"):
            table.drop_column(name)
