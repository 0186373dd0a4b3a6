"""Prometheus metrics (served at /metrics). Labels are sources, outcomes and rule ids: never
record ids or field values."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_RECEIVED = Counter(
    "lastmile_events_received",
    "Events accepted into the inbox (duplicates counted apart)",
    ["source", "duplicate"],
    registry=REGISTRY,
)
REQUESTS_REFUSED = Counter(
    "lastmile_webhook_refused",
    "Webhook requests refused with a 4xx, by reason",
    ["source", "reason"],
    registry=REGISTRY,
)
EVENTS_PROCESSED = Counter(
    "lastmile_events_processed",
    "Events processed, by outcome (applied, nothing, skipped, conflict_retried, failed, dead)",
    ["source", "outcome"],
    registry=REGISTRY,
)
PROCESSING_SECONDS = Histogram(
    "lastmile_processing_seconds",
    "From taking an event off the inbox to its write-back done",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RULE_FIRINGS = Counter(
    "lastmile_rule_firings", "Rules that matched an event", ["rule"], registry=REGISTRY
)
CRM_PAUSES = Counter(
    "lastmile_crm_pauses",
    "Times processing paused because the CRM was unavailable (the CRM breaker opened)",
    registry=REGISTRY,
)
WRITE_BATCH_SIZE = Histogram(
    "lastmile_write_batch_size",
    "Write-backs sent to the CRM together (one Connector.apply)",
    registry=REGISTRY,
    buckets=(1, 2, 5, 10, 25, 50, 100, 200),
)
WRITES_DEFERRED = Counter(
    "lastmile_writes_deferred",
    "Prompt-only and default-only write-backs not sent because API usage passed the budget "
    "(LASTMILE_API_BUDGET); the record's next write sends its prompt",
    registry=REGISTRY,
)
API_BUDGET_PAUSES = Counter(
    "lastmile_api_budget_pauses",
    "Times writes paused because API usage passed the pause share of the daily allowance",
    registry=REGISTRY,
)
API_USAGE_SHARE = Gauge(
    "lastmile_api_usage_share",
    "Share of the CRM's daily API allowance used, as the CRM last reported (0 to 1)",
    registry=REGISTRY,
)
