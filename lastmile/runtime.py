"""The running service, wired in one visible place: store, live rules, CRM connector, worker,
dispatch and the Flask app. `lastmile serve`, `lastmile demo` and the tests build it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from flask import Flask

from lastmile.connector.base import Connector
from lastmile.dispatch import EmbeddedDispatcher
from lastmile.field_types import FieldTypes
from lastmile.reload import LiveRules
from lastmile.settings import Settings
from lastmile.store import Store
from lastmile.store.database import threads_for_pool
from lastmile.worker import Worker
from lastmile.worker.locks import record_locks

if TYPE_CHECKING:
    from lastmile.celery_dispatch import CeleryDispatcher

log = structlog.get_logger("lastmile")


class ConfigError(Exception):
    """The settings do not describe a service that can run; the message says what to set."""


def example_dir() -> Path:
    """The example rule packs and events shipped inside the package."""
    return Path(str(resources.files("lastmile.examples")))


def rules_path(settings: Settings) -> Path:
    return settings.rules if settings.rules is not None else example_dir() / "rules"


def connector_from_settings(settings: Settings) -> Connector | None:
    """The HubSpot connector when a HubSpot token is set, else the Salesforce connector, or
    None when no CRM connection is configured."""
    if settings.uses_hubspot:
        from lastmile.connector.hubspot import from_settings as hubspot

        return hubspot(settings)
    if not (
        settings.salesforce_instance_url
        or settings.salesforce_username
        or settings.salesforce_consumer_key
    ):
        return None
    from lastmile.connector.salesforce import from_settings

    return from_settings(settings)


def _dispatcher(
    settings: Settings, worker: Worker, store: Store
) -> EmbeddedDispatcher | CeleryDispatcher:
    """Celery when a broker is configured (scale-out), else worker threads in this process."""
    if settings.broker_url:
        from lastmile.celery_app import make_celery
        from lastmile.celery_dispatch import CeleryDispatcher

        return CeleryDispatcher(store, make_celery(settings))
    # On PostgreSQL each thread needs two connections of the pool (store/database.py).
    room = threads_for_pool(store.pool_size) if store.dialect == "postgresql" else None
    return EmbeddedDispatcher(worker, store, threads=settings.worker_threads, max_threads=room)


def _field_types(settings: Settings, crm: Connector) -> FieldTypes:
    """Outbound Message values read by type: from LASTMILE_SCHEMA, else the CRM's describe."""
    if settings.crm_schema is not None:
        from lastmile.schemas import SchemaError, load_schema

        try:
            return FieldTypes(schema=load_schema(settings.crm_schema))
        except SchemaError as exc:
            raise ConfigError(f"LASTMILE_SCHEMA: {exc}") from None
    return FieldTypes(describe=getattr(crm, "describe", None))


@dataclass
class Runtime:
    settings: Settings
    store: Store
    rules: LiveRules
    connector: Connector
    worker: Worker
    dispatcher: EmbeddedDispatcher | CeleryDispatcher
    field_types: FieldTypes = field(default_factory=FieldTypes)
    _started: bool = field(default=False, repr=False)
    _deadlines: Any = field(default=None, repr=False)

    @classmethod
    def build(cls, settings: Settings, *, connector: Connector | None = None) -> Runtime:
        store = Store.from_settings(settings)
        store.upgrade(integration_user=settings.integration_user_id)
        crm_name = "hubspot" if settings.uses_hubspot else "salesforce"
        rules = LiveRules(
            rules_path(settings), max_file_bytes=settings.max_rule_file_bytes, crm=crm_name
        )
        crm = connector if connector is not None else connector_from_settings(settings)
        if crm is None:
            raise ConfigError(
                "no CRM connection: set LASTMILE_SALESFORCE_INSTANCE_URL and "
                "LASTMILE_SALESFORCE_SESSION_ID (or username/password/token, or the JWT "
                "settings), or LASTMILE_HUBSPOT_ACCESS_TOKEN; `lastmile sandbox` prints "
                "settings for a local sandbox CRM"
            )
        worker = Worker(store, rules, crm, settings, locks=record_locks(store.engine))
        types = _field_types(settings, crm)
        worker.crm_labels = types.labels
        dispatcher = _dispatcher(settings, worker, store)
        return cls(settings, store, rules, crm, worker, dispatcher, types)

    def dispatch(self, ids: Sequence[int]) -> None:
        self.dispatcher.dispatch(list(ids))

    def start(self) -> Runtime:
        """Load and watch the rules, start the embedded worker (it also picks up what a previous
        run left pending)."""
        if not self._started:
            self.rules.start()
            self.field_types.start(self.rules().objects)
            self.dispatcher.start()
            if not self.settings.broker_url:  # at scale, Celery beat runs the deadlines
                from lastmile.deadlines import scheduler_for

                self._deadlines = scheduler_for(self)
                self._deadlines.start()
            self._started = True
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._started:
            if self._deadlines is not None:
                self._deadlines.stop()
                self._deadlines = None
            self.dispatcher.stop(timeout)
            self.field_types.stop()
            self.rules.stop()
            self._started = False

    def app(self, **extra: Any) -> Flask:
        from lastmile.webhooks import create_app
        from lastmile.webhooks.api import api_blueprint
        from lastmile.webhooks.dashboard import dashboard_blueprint
        from lastmile.webhooks.ops import ops_blueprint

        return create_app(
            self.settings,
            self.store,
            blueprints=(ops_blueprint(self), api_blueprint(self), dashboard_blueprint(self)),
            dispatch=self.dispatch,
            sessions=self.connector.session_owner,
            field_types=self.field_types,
            **extra,
        )
