"""Scale-out test machinery (also used by bench/scale_bench.py): a PostgreSQL database per run,
broker checks, the sandbox CRM with seeded leads, a receiver in Celery mode serving real HTTP,
real `lastmile worker` subprocesses, and a stream of signed events whose effects are known."""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from standardwebhooks import Webhook

from lastmile.celery_app import make_celery
from lastmile.connector.sandbox import Sandbox
from lastmile.runtime import Runtime
from lastmile.serving import ServingThread
from lastmile.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "tests") not in sys.path:  # `waiting`, also when bench/ imports this module
    sys.path.insert(0, str(ROOT / "tests"))

# re-exported: tests/scale/conftest.py and bench/ take them from here
from postgres import PG_ADMIN_URL, postgres_database, postgres_problem  # noqa: E402, F401
from waiting import wait_for  # noqa: E402

RULES = Path(__file__).resolve().parent / "scale_rules"
REDIS_URL = os.environ.get("LASTMILE_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("LASTMILE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
PROMPT = "Lastmile_Prompt__c"
KEY_FIELD = "Lastmile_Key__c"


def fake_crm() -> Any:
    """The in-memory CRM double of tests/fakes.py."""
    from fakes import Clock, FakeCrm

    return FakeCrm(Clock())


# -- services ------------------------------------------------------------------------------------


def broker_problem(url: str) -> str | None:
    """Why the broker at `url` cannot be used here, or None."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        return f"{url.split('@')[-1]}: {type(exc).__name__}"
    return None


def restart_postgres(timeout: float = 60.0) -> None:
    """Restart the local PostgreSQL cluster and wait until it accepts connections again."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=timeout,
    )
    wait_for(lambda: postgres_problem() is None, timeout, every=0.2)


def purge_queues(broker_url: str, queues: tuple[str, ...]) -> None:
    """Delete a test run's queues (messages a run left behind must not reach the next)."""
    from kombu import Connection

    with Connection(broker_url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for queue in queues:
            try:
                channel.queue_delete(queue)
            except Exception:  # not declared (nothing was ever sent to it)
                channel = conn.channel()


# -- the event stream ----------------------------------------------------------------------------

FOREIGN = ("Portugal", "Germany", "Poland", "Spain")


@dataclass(frozen=True)
class Expected:
    """What the CRM must hold when every event was applied once, in order."""

    languages: dict[str, str | None]  # lead id -> Preferred_Language__c
    call_backs: dict[str, str]  # task key -> lead id
    prompts_left: dict[str, str | None]  # lead id -> prompt field at the end
    writes: int  # write-backs (one REST call each) the whole stream causes


@dataclass
class Stream:
    """Batches of events as a CRM sends them (one signed POST each) and their known effects."""

    batches: list[list[dict[str, Any]]]
    expected: Expected
    unique: int
    deliveries: int = field(init=False)

    def __post_init__(self) -> None:
        self.deliveries = sum(len(b) for b in self.batches)


def lead_events(
    leads: list[str], owner: str, *, busy_every: int = 4, per_lead: int = 5, start: datetime
) -> tuple[list[list[dict[str, Any]]], Expected]:
    """`per_lead` events for each lead, one list per lead, in the order they happened.

    A busy lead (every `busy_every`-th) comes from abroad (a default), turns hot (a call-back
    task), is contacted without a phone number (a prompt) and then gets one (prompt cleared):
    four write-backs. The others only change fields no rule watches: no write-back.
    """
    per_lead_events: list[list[dict[str, Any]]] = []
    languages: dict[str, str | None] = {}
    call_backs: dict[str, str] = {}
    prompts: dict[str, str | None] = {}
    writes = 0
    for n, lead in enumerate(leads):
        busy = n % busy_every == 0
        country = FOREIGN[n % len(FOREIGN)] if busy else "Netherlands"
        state: dict[str, Any] = {
            "LastName": f"Lead{n}",
            "Country": country,
            "Rating": "Cold",
            "Status": "Open - Not Contacted",
            "Phone": None,
            "Preferred_Language__c": None,
            "OwnerId": owner,
        }
        steps: list[tuple[str, dict[str, Any]]] = [("created", {})]
        if busy:
            steps += [
                ("updated", {"Rating": "Hot"}),
                ("updated", {"Status": "Working - Contacted"}),
                ("updated", {"Phone": f"+31 20 555 {n:04d}"}),
            ]
        while len(steps) < per_lead:
            steps.append(("updated", {"Title": f"title {len(steps)}"}))
        events = []
        at = start + timedelta(seconds=n)
        for k, (kind, change) in enumerate(steps):
            state = {**state, **change}
            events.append(
                {
                    "id": f"{lead}-{k}",
                    "source": "scale-test",
                    "object": "Lead",
                    "record_id": lead,
                    "kind": kind,
                    "occurred_at": (at + timedelta(milliseconds=10 * k))
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "actor": owner,
                    "fields": dict(state),
                    "changed": sorted(change) if kind == "updated" else None,
                }
            )
        per_lead_events.append(events)
        languages[lead] = "en" if busy else None
        prompts[lead] = None  # a busy lead's prompt was set, then cleared
        if busy:
            call_backs[f"scale-call-back:{lead}:{lead}-1"] = lead
            writes += 4
    return per_lead_events, Expected(languages, call_backs, prompts, writes)


def shuffled_stream(
    per_lead: list[list[dict[str, Any]]],
    expected: Expected,
    *,
    leads_per_batch: int = 20,
    duplicate_rate: float = 0.1,
    seed: int = 6,
) -> Stream:
    """Batches of `leads_per_batch` leads' events in a shuffled order (a record's later events
    before its earlier ones), the batches in random order, and `duplicate_rate` of all events
    delivered again in a later batch (or twice in the same one)."""
    rng = random.Random(seed)
    groups = [per_lead[i : i + leads_per_batch] for i in range(0, len(per_lead), leads_per_batch)]
    batches: list[list[dict[str, Any]]] = []
    for group in groups:
        batch = [e for events in group for e in events]
        rng.shuffle(batch)
        batches.append(batch)
    rng.shuffle(batches)
    unique = sum(len(b) for b in batches)
    for i, batch in enumerate(batches):
        for event in list(batch):
            if rng.random() < duplicate_rate:
                later = batches[rng.randrange(i, len(batches))]
                later.insert(rng.randrange(len(later) + 1), event)
    return Stream(batches, expected, unique)


def sign(body: str, secret: str, msg_id: str) -> dict[str, str]:
    at = datetime.now(UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


# -- the parts -----------------------------------------------------------------------------------


def seed_leads(sandbox: Sandbox, count: int) -> list[str]:
    """`count` leads saved by the sales user; their ids."""
    return [
        sandbox.save_as(
            sandbox.sales_user_id, "Lead", {"LastName": f"Lead{n}", "Company": "Scale test"}
        )
        for n in range(count)
    ]


def lastmile_env(sandbox: Sandbox, database_url: str, broker_url: str | None, **more: str) -> dict:
    """LASTMILE_* variables for a receiver or worker talking to `sandbox`."""
    env = {
        **sandbox.settings(),
        "LASTMILE_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        "LASTMILE_RULES": str(RULES),
        "LASTMILE_DATABASE_URL": database_url,
        "LASTMILE_LOG_LEVEL": "warning",
        # One owner has every lead, thousands at once: no prompt budget, so that each lead's
        # prompt depends on its own events alone, whatever the order of processing.
        "LASTMILE_MAX_PROMPTS_PER_PERSON": "1000000",
        **more,
    }
    if broker_url:
        env["LASTMILE_BROKER_URL"] = broker_url
    return env


def settings_from(env: dict[str, str]) -> Settings:
    return Settings(
        **{key.removeprefix("LASTMILE_").lower(): value for key, value in env.items()},
    )


class Receiver:
    """The receiver (Runtime + Flask app) serving real HTTP in a thread of this process."""

    def __init__(self, settings: Settings) -> None:
        assert settings.webhook_secret is not None
        self.secret = settings.webhook_secret.get_secret_value()
        self.settings = settings
        self.runtime = Runtime.build(self.settings).start()
        # The field types are described once at start, in the background: let that API call be
        # made before a test counts the calls its events cause.
        wait_for(lambda: self.runtime.field_types.state()["typed"], 30)
        self.server = ServingThread(self.runtime.app())
        self.url = self.server.url
        self.http = requests.Session()

    def post(self, batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch)
        answer = self.http.post(
            f"{self.url}/webhooks/events",
            data=body,
            headers=sign(body, self.secret, f"msg_{secrets.token_hex(8)}"),
            timeout=30,
        )
        assert answer.status_code in (200, 202), answer.text[:300]

    def close(self) -> None:
        self.server.stop()
        self.runtime.stop()
        self.runtime.store.close()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it when the test process dies (Linux), so an aborted
    run leaves no worker behind."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Workers:
    """Real `lastmile worker` processes (Celery, prefork), each in its own process group."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.logs = logs
        self.procs: list[subprocess.Popen] = []
        self.names: dict[int, str] = {}
        self.app = make_celery(settings_from(env))
        logs.mkdir(parents=True, exist_ok=True)

    def start(
        self, count: int = 1, concurrency: int = 1, pool: str = "prefork"
    ) -> list[subprocess.Popen]:
        """Start `count` workers of `concurrency` processes (or threads) each; return when they
        answer."""
        started = []
        for _ in range(count):
            n = len(self.procs)
            name = f"w{n}-{os.getpid()}@scale"
            log = self.logs / f"worker-{n}.log"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "lastmile",
                    "worker",
                    f"--concurrency={concurrency}",
                    f"--pool={pool}",
                    f"--hostname={name}",
                ],
                env=self.env,
                cwd=self.logs,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self.procs.append(proc)
            self.names[proc.pid] = name
            started.append(proc)
        for proc in started:
            wait_for(lambda p=proc: self._ready(p), 60, every=0.2)
        return started

    def _ready(self, proc: subprocess.Popen) -> bool:
        """The worker answers a ping over the broker."""
        if proc.poll() is not None:
            log = (self.logs / f"worker-{self.procs.index(proc)}.log").read_text()
            raise AssertionError(f"worker exited ({proc.returncode}): {log[-2000:]}")
        name = self.names[proc.pid]
        return bool(self.app.control.ping(destination=[name], timeout=0.5))

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and its pool processes at once (a host losing power)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()  # a warm shutdown: the main process stops its pool
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def log_text(self) -> str:
        """The end of every worker's log."""
        return "\n".join(
            (self.logs / f"worker-{n}.log").read_text(errors="replace")[-3000:]
            for n in range(len(self.procs))
        )


# -- what the CRM holds --------------------------------------------------------------------------


def crm_effects(sandbox: Sandbox, leads: list[str]) -> dict[str, Any]:
    """Lastmile's effects as the sandbox holds them: languages, prompts, keyed tasks."""
    wanted = set(leads)
    records = {r["Id"]: r for r in sandbox.store.records("Lead") if r["Id"] in wanted}
    tasks = [t for t in sandbox.store.records("Task") if t.get(KEY_FIELD)]
    return {
        "languages": {lead: records[lead].get("Preferred_Language__c") for lead in leads},
        "prompts": {lead: records[lead].get(PROMPT) or None for lead in leads},
        "task_keys": [t[KEY_FIELD] for t in tasks],
        "tasks_by_key": {t[KEY_FIELD]: t for t in tasks},
    }


# -- a whole run ---------------------------------------------------------------------------------


class Cluster:
    """Sandbox CRM with seeded leads, a receiver, and the stream of events meant for it. With a
    broker the receiver dispatches through Celery to `workers` (`lastmile worker` processes);
    without one it is embedded mode (its own worker threads)."""

    def __init__(
        self,
        sandbox: Sandbox,
        database_url: str,
        broker_url: str | None,
        logs: Path,
        *,
        leads: int,
        **env: str,
    ) -> None:
        self.sandbox = sandbox
        self.leads = seed_leads(sandbox, leads)
        per_lead, expected = lead_events(
            self.leads, sandbox.sales_user_id, start=datetime.now(UTC) + timedelta(hours=1)
        )
        self.stream = shuffled_stream(per_lead, expected)
        self.env = lastmile_env(sandbox, database_url, broker_url, **env)
        self.receiver = Receiver(settings_from(self.env))
        self._workers = Workers(self.env, logs) if broker_url else None
        self.calls_before = sandbox.api_calls

    @property
    def workers(self) -> Workers:
        assert self._workers is not None, "embedded mode has no worker processes"
        return self._workers

    @property
    def store(self):
        return self.receiver.runtime.store

    def post_all(self) -> None:
        """POST every batch, one signed request each."""
        for batch in self.stream.batches:
            self.receiver.post(batch)

    def drain(self, timeout: float) -> None:
        if not self.receiver.runtime.dispatcher.drain(timeout):
            logs = self._workers.log_text() if self._workers else ""
            raise AssertionError(f"not drained in {timeout} s: {self.store.counts()}\n{logs}")

    def close(self) -> None:
        if self._workers is not None:
            self._workers.stop()
        self.receiver.close()


def assert_exactly_once(cluster: Cluster, *, crashed: bool = False, batched: bool = False) -> None:
    """Every event done, every effect in the CRM once: the default, the call-back task (one per
    key, no stray ones), the prompt set and cleared in order. Without a crash, and unless
    writes were `batched` (several to a call), also one REST call per write-back: nothing was
    written twice."""
    store, expected = cluster.store, cluster.stream.expected
    counts = store.counts()
    assert counts == {"pending": 0, "running": 0, "done": cluster.stream.unique, "dead": 0}
    effects = crm_effects(cluster.sandbox, cluster.leads)
    assert effects["languages"] == expected.languages
    assert sorted(effects["task_keys"]) == sorted(expected.call_backs)  # no key twice
    for key, lead in expected.call_backs.items():
        task = effects["tasks_by_key"][key]
        assert task["WhatId"] == lead or task.get("WhoId") == lead
    assert effects["prompts"] == expected.prompts_left
    assert {t.key for t in store.tasks()} == set(expected.call_backs)
    if not (crashed or batched):
        assert cluster.sandbox.api_calls - cluster.calls_before == expected.writes
