"""Lastmile's settings: one object, read once from `LASTMILE_*` variables (or a .env file)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: object) -> object:
    """A duration written "24h", "90m", "30s", "2d" or as seconds, as a timedelta; other text
    (ISO 8601 "PT24H", "1 day, 0:00:00") is left to pydantic."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", value.lower())
        if found:
            return timedelta(seconds=float(found[1]) * _UNITS[found[2] or "s"])
    return value


class Settings(BaseSettings):
    """Everything configurable, with the defaults of embedded mode on one machine."""

    model_config = SettingsConfigDict(env_prefix="LASTMILE_", env_file=None, extra="ignore")

    rules: Path | None = None  # the rules directory; None: the examples shipped with Lastmile
    database_url: str = "sqlite:///lastmile.db"
    # PostgreSQL connections one process holds at most; a worker thread needs two (its work and
    # its record lock). `lastmile worker --pool threads` raises it to fit its threads.
    database_pool_size: int = Field(default=20, ge=2)
    broker_url: str | None = None  # set: Celery dispatch (issue 6); unset: an embedded worker

    # Salesforce: a session (instance URL + session id), username + password + security token,
    # or OAuth 2.0 JWT bearer (consumer key + private key file).
    salesforce_instance_url: str | None = None
    salesforce_session_id: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_consumer_key: str | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_domain: str = "login"  # "login" (production), "test" (sandbox org) or My Domain
    salesforce_login_url: str | None = None  # default: https://{domain}.salesforce.com
    salesforce_api_version: str = "62.0"
    salesforce_ca_bundle: Path | None = None  # a certificate to trust (the sandbox CRM's)
    salesforce_org_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list
    )  # Outbound Message allowlist

    # HubSpot (issue 20): a private app's access token; its webhooks are signed (v3) with the
    # app's client secret, several comma separated for rotation. `hubspot_webhook_url` is the
    # URL HubSpot calls, as it signs it, when a proxy in front changes what the receiver sees.
    hubspot_access_token: SecretStr | None = None
    hubspot_base_url: str = "https://api.hubapi.com"
    hubspot_ca_bundle: Path | None = None  # a certificate to trust (the HubSpot sandbox's)
    hubspot_client_secret: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    hubspot_webhook_url: str | None = None
    # A public app (OAuth) instead of a private app's token: its client id and a refresh token
    # (the first client secret above refreshes the access token: list the current one first).
    hubspot_client_id: str | None = None
    hubspot_refresh_token: SecretStr | None = None

    # Outbound Messages sent to /webhooks/salesforce/<token> (orgs that cannot send a session
    # id); several for rotation. Without a token the message's SessionId must be live.
    salesforce_outbound_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    integration_user_id: str | None = None  # events by this user cause no writes (no loops)
    webhook_secret: SecretStr | None = None  # Standard Webhooks `whsec_...`; several: comma
    admin_token: SecretStr | None = None
    prompt_field: str = "Lastmile_Prompt__c"
    task_key_field: str = "Lastmile_Key__c"
    # The prompt budget (issue 19): prompts a person (the records' owner) sees at once across
    # records, and on one record; the rest wait, by rule `priority`, until there is room.
    max_prompts_per_person: int = Field(default=5, ge=1)
    max_prompts_per_record: int = Field(default=3, ge=1)

    # Adoption measurement (issue 5): teams from a YAML file `teams: {Team: [user id, ...]}`;
    # a team with fewer people than min_group_size is reported as "other", never by name.
    teams: Path | None = None
    min_group_size: int = Field(default=5, ge=1)
    person_reports: bool = False  # per-person figures only when switched on
    ledger_retention_days: int = Field(default=400, ge=1)
    digest_webhook_url: str | None = None  # a chat webhook the stand-up digest is posted to
    deadline_every_s: float = Field(default=60.0, gt=0)  # the embedded deadline scheduler

    max_body_bytes: int = 1_000_000
    max_rule_file_bytes: int = Field(default=1_000_000, ge=1)  # larger rule files: refused unread
    # The CRM's schema (a `lastmile schema pull` file or an SFDX project): rules are checked
    # against it, and Outbound Message values read by its field types (else by describe).
    crm_schema: Path | None = Field(
        default=None, validation_alias=AliasChoices("crm_schema", "LASTMILE_SCHEMA")
    )
    max_json_depth: int = 32
    # Per source address on each webhook endpoint (flask-limiter notation, "10/second;600/minute");
    # empty: no limit. Counted in this process unless the storage is shared ("redis://host:6379").
    rate_limit: str | None = "3000/minute"  # 50/s: Salesforce batches up to 100 a message
    rate_limit_storage_uri: str = "memory://"
    # Reverse proxies in front of the receiver that append to X-Forwarded-For (a load balancer:
    # 1). 0: the peer's own address is the source (a forged header counts for nothing).
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    # While the CRM is unavailable events wait (processing pauses); one goes dead when the CRM
    # is still unavailable to it this long after it was received ("24h", "90m", "2d").
    retry_horizon: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    max_attempts: int = 8  # unexpected (non-CRM) errors: then an event is parked as dead
    # Embedded worker threads: they mostly wait on CRM calls (100-300 ms each with Salesforce).
    worker_threads: int = Field(default=8, ge=1, le=64)
    # Write-backs of events processed together share API calls (docs/salesforce.md): a write
    # waits at most this long for others (0: each goes alone at once), at most this many go
    # together; the embedded worker keeps that many events in flight.
    write_batch_ms: float = Field(default=50.0, ge=0, le=50)
    write_batch_size: int = Field(default=200, ge=1, le=200)
    # Shares of the CRM's daily API allowance (Sforce-Limit-Info): past api_budget prompt-only
    # and default-only writes are deferred; past api_pause writes wait until usage falls.
    api_budget: float = Field(default=0.8, gt=0, le=1)
    api_pause: float = Field(default=0.95, gt=0, le=1)

    # Scale-out (Celery) tuning; docs/deploy.md says what each does.
    queue: str = "lastmile"  # events; the beat's tasks go to "<queue>.schedule"
    worker_lease_s: float = Field(default=120.0, gt=0)  # a dead worker's event waits this long
    sweep_every_s: float = Field(default=15.0, gt=0)
    sweep_grace_s: float = Field(default=60.0, ge=0)  # a pending row younger may still be queued
    lock_wait_s: float = Field(default=60.0, gt=0)  # longest wait for a record's lock
    log_level: str = "info"

    _horizon = field_validator("retry_horizon", mode="before")(_duration)
    _split = field_validator(
        "salesforce_org_ids", "salesforce_outbound_tokens", "hubspot_client_secret", mode="before"
    )(_csv)

    @model_validator(mode="after")
    def _budget_before_pause(self) -> Settings:
        if self.api_budget > self.api_pause:
            raise ValueError(
                f"LASTMILE_API_BUDGET ({self.api_budget}) must not be above LASTMILE_API_PAUSE "
                f"({self.api_pause}): writes are deferred before they pause"
            )
        return self

    @model_validator(mode="after")
    def _hubspot_names(self) -> Settings:
        """On HubSpot the prompt and the task key are, unless set, the properties
        `lastmile hubspot setup` creates (lastmile_prompt, lastmile_key)."""
        if self.uses_hubspot:
            given = self.model_fields_set
            if "prompt_field" not in given:
                self.prompt_field = "lastmile_prompt"
            if "task_key_field" not in given:
                self.task_key_field = "lastmile_key"
        return self

    @model_validator(mode="after")
    def _hubspot_app(self) -> Settings:
        """A private app's access token or a public app's refresh token (with the app's client
        id and secret), not both."""
        if self.hubspot_refresh_token is None:
            return self
        if self.hubspot_access_token is not None:
            raise ValueError(
                "set LASTMILE_HUBSPOT_ACCESS_TOKEN (a private app) or "
                "LASTMILE_HUBSPOT_REFRESH_TOKEN (a public app), not both"
            )
        if not self.hubspot_client_id or not self.hubspot_client_secret:
            raise ValueError(
                "LASTMILE_HUBSPOT_REFRESH_TOKEN needs the public app's "
                "LASTMILE_HUBSPOT_CLIENT_ID and LASTMILE_HUBSPOT_CLIENT_SECRET too"
            )
        return self

    @property
    def uses_hubspot(self) -> bool:
        """HubSpot credentials are set (a private app's token or a public app's refresh
        token): Lastmile talks to HubSpot, not Salesforce."""
        return self.hubspot_access_token is not None or self.hubspot_refresh_token is not None


def _env_name(field: str) -> str:
    """The variable a setting is read from: LASTMILE_<NAME>, or the one its alias names."""
    alias = Settings.model_fields[field].validation_alias
    names = alias.choices if isinstance(alias, AliasChoices) else []
    given = [n for n in names if isinstance(n, str) and n.startswith("LASTMILE_")]
    return given[0] if given else f"LASTMILE_{field.upper()}"


def _reveal(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def env_lines(settings: Settings) -> list[str]:
    """`settings` as the KEY=value lines `--config FILE` reads back: every value that is not a
    default, secrets included (the file is for the operator who owns them)."""
    lines = []
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if isinstance(value, SecretStr):
            value = _reveal(value)
        elif isinstance(value, list):
            value = ",".join(_reveal(v) for v in value)
        elif isinstance(value, bool):
            value = "on" if value else "off"
        if value is not None:
            lines.append(f"{_env_name(name)}={value}")
    return lines
