"""The store's tables (SQLAlchemy Core), dialect-neutral: SQLite embedded, PostgreSQL at scale.

The Alembic revisions in `lastmile/migrations/versions/` create exactly these; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData()


class UTCDateTime(TypeDecorator):
    """A UTC time. SQLite keeps no zone, so times go in as naive UTC and come out aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("store times need a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


STATUSES = ("pending", "running", "done", "dead")

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # the RecordEvent as JSON
    # pending -> running (leased) -> done | dead; a running row whose lease passed is taken again
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.Text),  # codes and ids, never field values
    sa.Column("outcome", sa.String(32)),
    sa.Column("rules_version", sa.String(64)),
    sa.Column("processed_at", UTCDateTime),
    # What the worker evaluated (event fields + fields fetched) and what it wrote (defaults and
    # the prompt field): folded in order they give the record's state after each event.
    sa.Column("fields_seen", sa.JSON),
    sa.Column("fields_written", sa.JSON),
    sa.UniqueConstraint("source", "event_id", name="uq_inbox_source_event"),
    sa.Index("ix_inbox_status_next", "status", "next_attempt_at"),
    sa.Index("ix_inbox_record", "object", "record_id", "occurred_at"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("object", sa.String(80), primary_key=True),
    sa.Column("record_id", sa.String(64), primary_key=True),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),  # of the event that set it
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
    sa.Column("prompts", sa.JSON, nullable=False),  # rule -> text currently shown
    sa.Column("prompt_value", sa.Text),  # the prompt field value last written
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Migration 0006, the prompt budget: the record's owner (lastmile.users.user_key), how many
    # prompts it shows (`prompts`' size) and those held back for want of room (rule -> text).
    sa.Column("owner", sa.String(64)),
    sa.Column("shown", sa.Integer, nullable=False, server_default="0"),
    sa.Column("held", sa.JSON(none_as_null=True)),  # NULL: nothing held back
    sa.Index("ix_snapshot_owner", "owner"),
)

writebacks = sa.Table(
    "writebacks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),  # the inbox row's attempt number
    sa.Column("fields", sa.JSON, nullable=False),  # name -> value sent (values stay in the DB)
    sa.Column("task_keys", sa.JSON, nullable=False),
    sa.Column("if_unmodified_since", UTCDateTime),
    sa.Column("status", sa.String(16), nullable=False),  # applied/conflict/failed/error
    sa.Column("task_ids", sa.JSON, nullable=False),
    sa.Column("api_calls", sa.Integer),
    sa.Column("problems", sa.JSON, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# The ledger: what adoption measurement (issue 5) is built on. Rows are keyed by the inbox row
# (one per source + event id) and the rule, so processing an event again inserts nothing new.
observations = sa.Table(
    "ledger_observations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("matched", sa.Boolean, nullable=False),
    sa.Column("situation", sa.Boolean, nullable=False),
    sa.Column("missing", sa.JSON, nullable=False),
    sa.Column("owner", sa.String(64)),
    sa.Column("rules_version", sa.String(64)),
    # Migration 0005: the `require` fields holding a placeholder value, the rule's own version
    # (its content hash; `rules_version` names the whole rule set), an experiment's arm.
    sa.Column("placeholder", sa.JSON),
    sa.Column("rule_version", sa.String(64)),
    sa.Column("experiment", sa.String(80)),
    sa.Column("arm", sa.String(80)),
    # Migration 0006: the rule's prompt was wanted but held back by the prompt budget.
    sa.Column("suppressed", sa.Boolean),
    sa.UniqueConstraint("inbox_id", "rule", name="uq_observation_event_rule"),
    sa.Index("ix_observation_record", "object", "record_id", "occurred_at"),
    sa.Index("ix_observation_rule", "rule", "occurred_at"),
)

defaults_applied = sa.Table(
    "ledger_defaults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),  # the first matched rule naming the field
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("value", sa.JSON),
    # Kept up to date as the record's events come in (issue 17): the record's owner in that
    # event, and when a person (not the integration user) first gave the field another value.
    sa.Column("owner", sa.String(64)),
    sa.Column("overridden_at", UTCDateTime),
    sa.UniqueConstraint("inbox_id", "field", name="uq_default_event_field"),
    sa.Index("ix_default_record", "object", "record_id"),
    # The rows not folded into the totals (migration 0004, store/totals.py).
    sa.Index("ix_default_occurred", "occurred_at"),
    sa.Index("ix_default_overridden", "overridden_at"),
)

tasks = sa.Table(
    "ledger_tasks",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("inbox_id", sa.Integer, sa.ForeignKey("inbox.id"), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("crm_id", sa.String(64)),
    sa.Column("due", sa.Date, nullable=False),
)

# What the deadline scheduler did for an occasion whose `within` passed unmet (issue 5): one row
# per rule, record and opening event, so a second run acts on nothing it acted on before.
deadline_actions = sa.Table(
    "deadline_actions",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),  # the occasion's opening event
    sa.Column("deadline", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # done | failed (a permanent CRM error)
    sa.Column("task_key", sa.String(255)),
    sa.Column("task_crm_id", sa.String(64)),
    sa.Column("prompt_cleared", sa.Boolean, nullable=False),
    sa.Column("problem", sa.Text),  # CRM codes and messages, never field values
    sa.Column("acted_at", UTCDateTime, nullable=False),
    sa.Index("ix_deadline_action_deadline", "deadline"),
)

# Occasions kept as rows (issue 17): each record's occasions derived from its observations as if
# every event had arrived, re-derived whenever one is recorded. `outcome` and `closed_at` are the
# final ones; the outcome at any `as_of` follows from the times (see store/occasions.py), so an
# indicator for any `as_of` is one aggregate query.
occasions = sa.Table(
    "occasions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("object", sa.String(80), nullable=False),
    sa.Column("record_id", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("opened_event_id", sa.String(255), nullable=False),
    sa.Column("opened_inbox_id", sa.Integer, nullable=False),
    sa.Column("owner", sa.String(64)),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    sa.Column("opened_week", sa.String(8), nullable=False),  # ISO week (UTC), e.g. 2026-W46
    sa.Column("deadline", UTCDateTime),
    sa.Column("within", sa.String(64), nullable=False),  # the rule's `within` used ("": none)
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("closed_at", UTCDateTime),
    sa.Column("missed_from", UTCDateTime),  # from this `as_of` on it counts as missed
    sa.Column("time_to_comply_s", sa.Float),
    sa.Column("fields_missing", sa.Text, nullable=False),  # "|A|B|": the empty `require` fields
    sa.Column("rules_version", sa.String(64)),
    # Migration 0005: fields seen with a placeholder ("|A|"), the rule's own version when the
    # occasion opened, and the experiment and arm it opened in.
    sa.Column("fields_placeholder", sa.Text, nullable=False, server_default="|"),
    sa.Column("rule_version", sa.String(64)),
    sa.Column("experiment", sa.String(80)),
    sa.Column("arm", sa.String(80)),
    # Migration 0006: its prompt was held back by the prompt budget at some event while open.
    sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_occasion_record", "object", "record_id"),
    # The rows not folded into the totals, and the deadlines passed lately (store/totals.py).
    sa.Index("ix_occasion_settled", "closed_at", "opened_at"),
    # Every column the indicators read: their scans read this narrow index, not the rows.
    sa.Index(
        "ix_occasion_figures",
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
        "fields_placeholder",  # migration 0007: read since 0005 and 0006 (reading them from the
        "suppressed",  # rows made a window's figures 2.4 times as slow on SQLite)
    ),
)

# The occasion rows' figures folded up to a checkpoint (issue 17, store/totals.py): per rule and
# opening week (`by` "week") and per rule and owner (`by` "owner", "" for none), how many
# occasions ended how (`kind` "outcome", `item` the outcome), opened with a field missing
# ("missing", the field) and took `wait_s` seconds to comply ("wait"). Rows of folded occasions
# only; the rest are read one by one.
occasion_totals = sa.Table(
    "occasion_totals",
    metadata,
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

# Likewise the defaults applied (store/defaults.py) folded up to the same checkpoint: per rule,
# field, owner ("" for none) and whether a person overrode it.
default_totals = sa.Table(
    "default_totals",
    metadata,
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("field", sa.String(128), nullable=False),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("overridden", sa.Boolean, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.PrimaryKeyConstraint("rule", "field", "owner", "overridden", name="pk_default_totals"),
)

# One row (id 1): the occasion rows closed, or never closing and opened, before `folded_before`
# are in `occasion_totals`. `generation` counts the folds and refolds (which rewrite the totals).
occasion_checkpoint = sa.Table(
    "occasion_checkpoint",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("folded_before", UTCDateTime, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
)

# One row per transaction that corrected the totals since the last fold (a late event re-deriving
# a folded occasion or default): with the checkpoint's generation it says which totals a reader
# sees, so that figures read from them can be kept until they change (measure/tally.py).
# Insert-only between folds, so writers never wait for each other here.
totals_changes = sa.Table(
    "totals_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
)
