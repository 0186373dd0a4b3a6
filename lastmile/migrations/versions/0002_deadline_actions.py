"""What the deadline scheduler did per missed occasion (escalation task, prompt cleared).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deadline_actions",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("deadline", TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_key", sa.String(255)),
        sa.Column("task_crm_id", sa.String(64)),
        sa.Column("prompt_cleared", sa.Boolean, nullable=False),
        sa.Column("problem", sa.Text),
        sa.Column("acted_at", TIME, nullable=False),
    )
    op.create_index("ix_deadline_action_deadline", "deadline_actions", ["deadline"])


def downgrade() -> None:
    op.drop_index("ix_deadline_action_deadline", "deadline_actions")
    op.drop_table("deadline_actions")
