"""`Worker.process_event`: one inbox event through the rules to the CRM, with the same effect
however often it runs. The embedded threads and (issue 6) Celery call it."""

from __future__ import annotations

import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import structlog
from pydantic import ValidationError

from lastmile.connector.base import Connector, CrmError, InvalidRequest, NotFound
from lastmile.rules import Decision, RecordEvent, RuleSet, evaluate
from lastmile.rules.occasions import observe
from lastmile.rules.records import FieldValue

from ..metrics import EVENTS_PROCESSED, PROCESSING_SECONDS, RULE_FIRINGS
from ..settings import Settings
from ..store import Completion, InboxRow, ObservationRow, Snapshot, Store, WriteLog
from ..store.occasions import within_of
from ..users import same_user
from .batcher import WriteBatcher
from .breaker import CrmBreaker, crm_unavailable
from .budget import ApiBudget
from .locks import LocalRecordLocks, RecordLocks
from .prompts import slots
from .writeback import PermanentFailure, Plan, apply_plan, describe_problems

log = structlog.get_logger("lastmile.worker")

# Outcomes `process_event` returns (and the inbox row keeps once done or dead).
APPLIED = "applied"  # something was written back
NOTHING = "nothing"  # the rules asked for no write
OWN_CHANGE = "own_change"  # made by the integration user: recorded, never written back
LATE = "late"  # older than the record's snapshot: recorded, no write
GONE = "gone"  # the record no longer exists in the CRM
RETRY = "retry"  # a transient failure: pending again, at its next attempt time
PAUSED = "paused"  # not tried: the CRM is unavailable, the event waits for it (no attempt taken)
DEAD = "dead"  # parked: a permanent error, the retry horizon passed, attempts used up (replayable)
DEFERRED = "deferred"  # an earlier event of the record has to go first
SKIPPED = "skipped"  # done, dead, leased by another worker, or not due yet
UNKNOWN = "unknown"  # no such inbox row

_METRIC_OUTCOME = {APPLIED: "applied", NOTHING: "nothing", RETRY: "failed", DEAD: "dead"}


@dataclass
class _Run:
    """What one pass over an event collects on its way (write logs survive a failure)."""

    row: InboxRow
    event: RecordEvent
    snapshot: Snapshot | None  # the record's, as the event was claimed
    ruleset: RuleSet = field(init=False)
    writes: list[WriteLog] = field(default_factory=list)
    matched: list[str] = field(default_factory=list)


class Worker:
    """Processes inbox rows: claim, evaluate, write back, record; safe to run twice."""

    def __init__(
        self,
        store: Store,
        rules: Callable[[], RuleSet],
        connector: Connector,
        settings: Settings,
        *,
        locks: RecordLocks | None = None,
        clock: Callable[[], datetime] | None = None,
        lease: timedelta = timedelta(minutes=2),
        backoff_base: float = 2.0,
        backoff_cap: float = 600.0,
        breaker: CrmBreaker | None = None,
        prompt_budget: bool = True,
    ) -> None:
        self.store = store
        self.prompt_budget = prompt_budget  # off: every wanted prompt shows (observe imports)
        self.rules = rules
        self.connector = connector
        self.settings = settings
        self.locks = locks or LocalRecordLocks()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.lease = lease
        self.backoff_base = backoff_base  # retries after unexpected (non-CRM) errors
        self.backoff_cap = backoff_cap
        # One per worker, and so one per process: its threads write together (batcher), mind
        # the API budget together, and wait for the CRM together (breaker).
        self.batcher = WriteBatcher(
            connector, window_s=settings.write_batch_ms / 1000, size=settings.write_batch_size
        )
        self.budget = ApiBudget(
            connector.usage,
            settings.api_budget,
            settings.api_pause,
            refresh=connector.check,
            clock=self.clock,
        )
        self.breaker = breaker or CrmBreaker(self._probe, clock=self.clock)
        self.owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # The CRM's field labels of an object, for prompts (the runtime gives describe's).
        self.crm_labels: Callable[[str], Mapping[str, str]] = lambda _object: {}

    def process_event(self, inbox_id: int) -> str:
        """Process one inbox row (and the earlier pending events of its record first)."""
        # Read before the record lock is held: an earlier event that closes meanwhile is
        # skipped by its claim; one that arrives meanwhile is late, as if it came after.
        row, earlier_open = self.store.get_with_earlier(inbox_id)
        if row is None:
            return UNKNOWN
        if row.status in ("done", "dead"):
            return SKIPPED
        with self.locks.hold(row.object, row.record_id), self.batcher.in_flight():
            for earlier in earlier_open:
                self._hold(earlier) or self._process(earlier.id)
                after = self.store.get(earlier.id)
                if after is not None and after.status in ("pending", "running"):
                    until = after.next_attempt_at or after.lease_until or self.clock()
                    self.store.postpone(row.id, until)
                    log.info("event waits for an earlier one", inbox_id=row.id, waits_for=after.id)
                    return DEFERRED
            return self._hold(row) or self._process(inbox_id)

    def _hold(self, row: InboxRow) -> str | None:
        """While the CRM is unavailable a due event is not tried: it waits for the breaker's
        next probe, no attempt taken (PAUSED), or goes dead past the retry horizon. None: go on."""
        now = self.clock()
        if (
            row.status == "pending"
            and row.next_attempt_at is not None
            and row.next_attempt_at > now
        ):
            return None  # not due: the claim says so
        until = self.breaker.wait_until()  # makes the probe when one is due
        if until is None:
            return None
        state = self.breaker.state()
        since = state.since.isoformat() if state.since else "now"
        if row.last_error is not None and self._past_horizon(row, now):
            # It met the outage before (a failed attempt, or waiting already) and it still lasts.
            claimed = self.store.claim(row.id, self.owner, now, self.lease)
            if claimed is None:
                return SKIPPED
            return self._give_up(
                _Run(claimed, claimed.event, None),
                f"CRM unavailable since {since} ({state.error_class}): past the retry horizon "
                f"of {self.settings.retry_horizon}",
                claimed.attempts,
            )
        self.store.hold(
            row.id, until, f"waiting: CRM unavailable since {since} ({state.error_class})"
        )
        return PAUSED

    def _probe(self) -> None:
        """The breaker's question: does the CRM answer, and is API usage below the pause?"""
        self.connector.check()
        self.budget.check(self.clock())

    def _past_horizon(self, row: InboxRow, now: datetime) -> bool:
        return now >= row.received_at + self.settings.retry_horizon

    # -- one event -------------------------------------------------------------------------------

    def _process(self, inbox_id: int) -> str:
        started = time.perf_counter()
        claimed = self.store.claim_with_snapshot(inbox_id, self.owner, self.clock(), self.lease)
        if claimed is None:
            return SKIPPED
        row, snap = claimed
        try:
            event = row.event
        except ValidationError as exc:  # stored by an older version that checked less
            return self._unreadable(row, exc)
        run = _Run(row, event, snap)
        bound = log.bind(
            inbox_id=row.id, event_id=event.id, object=event.object, record_id=event.record_id
        )
        try:
            run.ruleset = self.rules()
            done = self._handle(run, bound)
        except (CrmError, PermanentFailure) as exc:
            problems = exc.problems
            outcome = self._give_up(run, describe_problems(tuple(problems)))
        except InvalidRequest as exc:  # the event itself is at fault: no retry can mend it
            outcome = self._give_up(run, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            outcome = self._retry_later(run, exc, bound)
        else:
            # Not inside the try: if this commit fails after a write, the lease runs out and
            # the re-run finds the write already done (conditional update, task keys).
            self.store.complete(row.id, self.owner, done, self.clock())
            outcome = done.outcome
        seconds = time.perf_counter() - started
        PROCESSING_SECONDS.observe(seconds)
        EVENTS_PROCESSED.labels(row.source, _METRIC_OUTCOME.get(outcome, "skipped")).inc()
        bound.info(
            "event processed",
            outcome=outcome,
            rules=run.matched,
            attempt=row.attempts + 1,
            latency_ms=round(seconds * 1000, 1),
        )
        return outcome

    def decide(
        self, row: InboxRow, event: RecordEvent, snapshot: Snapshot | None, ruleset: RuleSet
    ) -> Completion:
        """What processing `row` (its `event`) leaves behind, given the record's snapshot,
        without claiming or completing the row: `_process`'s step, shared with the bulk import
        (worker/batch.py). Raises what `_process` catches."""
        run = _Run(row, event, snapshot)
        run.ruleset = ruleset
        return self._handle(run, log.bind(inbox_id=row.id, event_id=event.id))

    def _handle(self, run: _Run, bound: structlog.BoundLogger) -> Completion:
        event, ruleset, row, snap = run.event, run.ruleset, run.row, run.snapshot
        if snap is not None and (event.occurred_at, row.id) < (snap.occurred_at, snap.inbox_id):
            return self._late(run, snap)
        previous = dict(snap.fields) if snap is not None else None
        event = _not_created_twice(event, previous)
        changed = tuple(sorted(_changed(event, previous)))
        own = same_user(event.actor, self.settings.integration_user_id)
        gone = False
        fetched: dict[str, FieldValue] = {}
        wanted = sorted(ruleset.fields(event.object) - set(event.fields) - {"Id"})
        if wanted and own and previous is not None:
            # The echo of our own write-back: what it lacks is what we last saw (no API call).
            fetched = {name: previous[name] for name in wanted if name in previous}
        elif wanted and event.kind != "deleted":
            try:
                fetched = dict(self.connector.read(event.object, event.record_id, wanted).fields)
            except NotFound:
                gone = True
            else:
                bound.info(
                    "fields read from the CRM: add them to the Outbound Message", fields=wanted
                )
        seen = {**fetched, **event.fields}  # the event's own values win
        evaluated = event.model_copy(update={"fields": seen, "changed": changed})
        labels = self.crm_labels(event.object)
        decision = evaluate(ruleset, evaluated, previous, labels=labels)
        run.matched = list(decision.matched)
        for rule in decision.matched:
            RULE_FIRINGS.labels(rule).inc()
        observations = self._observations(row, evaluated, decision, ruleset)
        prompts = dict(snap.prompts) if snap is not None else {}
        prompt_value = snap.prompt_value if snap is not None else None
        held = dict(snap.held) if snap is not None else {}
        if own or gone:
            outcome, written, defaults, tasks = (OWN_CHANGE if own else GONE), {}, (), ()
        else:
            plan = Plan(
                event=evaluated,
                previous=previous,
                decision=decision,
                prompts=prompts,
                prompt_value=prompt_value,
                prompt_field=self.settings.prompt_field,
                inbox_id=row.id,
                attempt=row.attempts + 1,
                labels=labels,
                held=held,
                slots=self._slots(seen, event) if decision.prompts or prompts or held else None,
            )
            result = apply_plan(
                plan, ruleset, self.connector, self.clock, run.writes, self.batcher, self.budget
            )
            outcome = APPLIED if result.wrote else NOTHING
            if result.gone:
                outcome = GONE
            written, defaults, tasks = result.written, result.defaults, result.tasks
            prompts, prompt_value, held = result.prompts, result.prompt_value, result.held
            observations = tuple(
                replace(o, suppressed=True) if o.rule in held else o for o in observations
            )
        return Completion(
            outcome=outcome,
            rules_version=ruleset.version,
            within=within_of(ruleset),
            integration_user=self.settings.integration_user_id,
            fields_seen=seen,
            fields_written=written,
            observations=observations,
            defaults=defaults,
            tasks=tasks,
            writes=tuple(run.writes),
            snapshot=Snapshot(
                fields={**(previous or {}), **seen, **written},
                occurred_at=event.occurred_at,
                inbox_id=row.id,
                prompts=prompts,
                prompt_value=prompt_value,
                held=held,
            ),
        )

    def _slots(self, fields: Mapping[str, FieldValue], event: RecordEvent) -> int | None:
        """How many prompts the record may show under the prompt budget (None: no budget)."""
        if not self.prompt_budget:
            return None
        owner = fields.get("OwnerId")
        elsewhere = self.store.prompts_elsewhere(owner, event.object, event.record_id)
        settings = self.settings
        return slots(settings.max_prompts_per_record, settings.max_prompts_per_person, elsewhere)

    def _late(self, run: _Run, snap: Snapshot) -> Completion:
        """An event older than the snapshot: no CRM call, no write. Its observations are worked
        out against the record as it was then, and those of the events after it again, so the
        ledger reads as if the events had come in order."""
        row, ruleset = run.row, run.ruleset
        history = [r for r in self.store.history(row.object, row.record_id) if r.id != row.id]
        chain = sorted([*history, row], key=lambda r: (r.occurred_at, r.id))
        at = next(i for i, r in enumerate(chain) if r.id == row.id)
        state: dict[str, FieldValue] | None = None
        for r in chain[:at]:
            state = {**(state or {}), **(r.fields_seen or {}), **(r.fields_written or {})}
        needed = ruleset.fields(row.object)
        # Today's CRM values are not the values at that time: what the event lacks comes from
        # the record as it stood before it.
        late_seen = {**{k: v for k, v in (state or {}).items() if k in needed}, **run.event.fields}
        mine: tuple[ObservationRow, ...] = ()
        revised: list[ObservationRow] = []
        for r in chain[at:]:
            event = _not_created_twice(r.event, state)
            seen = late_seen if r.id == row.id else dict(r.fields_seen or event.fields)
            evaluated = event.model_copy(
                update={"fields": seen, "changed": tuple(sorted(_changed(event, state)))}
            )
            rows = self._observations(r, evaluated, evaluate(ruleset, evaluated, state), ruleset)
            if r.id == row.id:
                mine = rows
            else:
                revised.extend(rows)
            written = {} if r.id == row.id else dict(r.fields_written or {})
            state = {**(state or {}), **seen, **written}
        return Completion(
            outcome=LATE,
            rules_version=ruleset.version,
            within=within_of(ruleset),
            integration_user=self.settings.integration_user_id,
            fields_seen=late_seen,
            fields_written={},
            observations=mine,
            revised=tuple(revised),
            # Later events' values stay; the late one only fills what they did not carry.
            snapshot=Snapshot(
                fields=state or {},
                occurred_at=snap.occurred_at,
                inbox_id=snap.inbox_id,
                prompts=snap.prompts,
                prompt_value=snap.prompt_value,
                held=snap.held,
            ),
        )

    @staticmethod
    def _observations(
        row: InboxRow, event: RecordEvent, decision: Decision, ruleset: RuleSet
    ) -> tuple[ObservationRow, ...]:
        return tuple(
            ObservationRow(
                inbox_id=row.id,
                event_id=o.event_id,
                occurred_at=o.occurred_at,
                object=event.object,
                record_id=event.record_id,
                rule=o.rule,
                matched=o.matched,
                situation=o.situation,
                missing=o.missing,
                owner=o.owner,
                rules_version=ruleset.version,
                placeholder=o.placeholder,
                rule_version=o.rule_version,
                experiment=o.experiment,
                arm=o.arm,
            )
            for o in observe(ruleset, event, decision)
        )

    # -- failures --------------------------------------------------------------------------------

    def _retry_later(self, run: _Run, exc: Exception, bound: structlog.BoundLogger) -> str:
        row = run.row
        attempts = row.attempts + 1
        if crm_unavailable(exc):
            # The CRM, not this event: the breaker opens and the event waits for its probe.
            # Only the retry horizon, never a count of attempts, makes such an event dead.
            error = f"{type(exc).__name__}: {exc}"
            bound.warning("CRM call failed", error=type(exc).__name__, attempt=attempts)
            when = self.breaker.failed(exc)
            if self._past_horizon(row, self.clock()):
                horizon = self.settings.retry_horizon
                return self._give_up(
                    run, f"{error} (past the retry horizon of {horizon})", attempts
                )
        else:
            # An unexpected error's text may quote field values: it stays in the log only.
            error = f"{type(exc).__name__}: internal error (see the log for inbox id {row.id})"
            bound.exception("processing failed", attempt=attempts)
            if attempts >= self.settings.max_attempts:
                return self._give_up(run, f"{error} (after {attempts} attempts)", attempts)
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
            delay = delay / 2 + random.uniform(0, delay / 2)  # jitter: a burst's retries spread
            when = self.clock() + timedelta(seconds=delay)
        self.store.release(
            row.id,
            self.owner,
            status="pending",
            next_attempt_at=when,
            attempts=attempts,
            error=error,
            outcome=RETRY,
            writes=run.writes,
        )
        return RETRY

    def _unreadable(self, row: InboxRow, exc: ValidationError) -> str:
        """A stored event this version cannot read: dead at once, saying where (no values)."""
        where = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        error = f"the stored event is no valid RecordEvent ({where})"
        self.store.release(
            row.id, self.owner, status="dead", attempts=row.attempts + 1, error=error, outcome=DEAD
        )
        log.error("event parked as dead", inbox_id=row.id, event_id=row.event_id, error=error)
        return DEAD

    def _give_up(self, run: _Run, error: str, attempts: int | None = None) -> str:
        row = run.row
        self.store.release(
            row.id,
            self.owner,
            status="dead",
            attempts=attempts if attempts is not None else row.attempts + 1,
            error=error,
            outcome=DEAD,
            writes=run.writes,
        )
        log.error("event parked as dead", inbox_id=row.id, event_id=row.event_id, error=error)
        return DEAD


def _not_created_twice(event: RecordEvent, previous: object | None) -> RecordEvent:
    """A record already seen is not being created. Salesforce times are whole seconds, so an
    update in the second of the creation carries CreatedDate == LastModifiedDate and arrives
    as `created`; taken as such, every filled field would count as changed again."""
    if event.kind == "created" and previous is not None:
        return event.model_copy(update={"kind": "updated"})
    return event


def _changed(event: RecordEvent, previous: Mapping[str, FieldValue] | None) -> frozenset[str]:
    """The fields the event changed, from its own fields only (never from values read later)."""
    return event.changed_fields(dict(previous) if previous is not None else None)
