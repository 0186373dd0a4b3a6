"""The initial store: inbox, snapshots, write-back log and the ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TIME),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", TIME),
        sa.Column("last_error", sa.Text),
        sa.Column("outcome", sa.String(32)),
        sa.Column("rules_version", sa.String(64)),
        sa.Column("processed_at", TIME),
        sa.Column("fields_seen", sa.JSON),
        sa.Column("fields_written", sa.JSON),
        sa.UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
    )
    op.create_index("ix_inbox_status_next", "inbox", ["status", "next_attempt_at"])
    op.create_index("ix_inbox_record", "inbox", ["object", "record_id", "occurred_at"])

    op.create_table(
        "snapshots",
        sa.Column("object", sa.String(80), primary_key=True),
        sa.Column("record_id", sa.String(64), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
        sa.Column("prompts", sa.JSON, nullable=False),
        sa.Column("prompt_value", sa.Text),
        sa.Column("updated_at", TIME, nullable=False),
    )

    op.create_table(
        "writebacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("task_keys", sa.JSON, nullable=False),
        sa.Column("if_unmodified_since", TIME),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("task_ids", sa.JSON, nullable=False),
        sa.Column("api_calls", sa.Integer),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_index("ix_writebacks_inbox_id", "writebacks", ["inbox_id"])

    op.create_table(
        "ledger_observations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("matched", sa.Boolean, nullable=False),
        sa.Column("situation", sa.Boolean, nullable=False),
        sa.Column("missing", sa.JSON, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("rules_version", sa.String(64)),
        sa.UniqueConstraint("inbox_id", "rule", name="uq_observation_event_rule"),
    )
    op.create_index(
        "ix_observation_record", "ledger_observations", ["object", "record_id", "occurred_at"]
    )
    op.create_index("ix_observation_rule", "ledger_observations", ["rule", "occurred_at"])

    op.create_table(
        "ledger_defaults",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("value", sa.JSON),
        sa.UniqueConstraint("inbox_id", "field", name="uq_default_event_field"),
    )
    op.create_index("ix_default_record", "ledger_defaults", ["object", "record_id"])

    op.create_table(
        "ledger_tasks",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("object", sa.String(80), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("crm_id", sa.String(64)),
        sa.Column("due", sa.Date, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "ledger_tasks",
        "ledger_defaults",
        "ledger_observations",
        "writebacks",
        "snapshots",
        "inbox",
    ):
        op.drop_table(table)
