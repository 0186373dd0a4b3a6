"""`HubSpotConnector`: reads records and writes back defaults, prompts and follow-up tasks
through HubSpot's CRM v3 API (hubspot-api-client), in batches of up to 100.

Rules name properties as HubSpot does (`dealstage`, `hs_next_step`); `OwnerId`, which the rule
format uses for the record's owner (task owners, teams), is HubSpot's `hubspot_owner_id`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from lastmile.connector.base import ApiUsage, NotFound, RecordState, WriteBack, WriteResult
from lastmile.connector.hubspot.client import Client
from lastmile.connector.hubspot.names import ALIASES, check_id, check_name, crm_name, parse_time
from lastmile.connector.hubspot.oauth import OAuthApp
from lastmile.connector.hubspot.values import kind_of, typed
from lastmile.connector.hubspot.writer import LAST_MODIFIED, Writer, chunks

DEFAULT_BASE_URL = "https://api.hubapi.com"
TYPES_REFRESH_S = 60.0  # a property the cached types do not name is looked up at most this often


class HubSpotConnector:
    """`connector.base.Connector` for one HubSpot account, with a private app's access token
    or a public app's OAuth credentials (`oauth`: client id, secret, refresh token).

    Values read are typed by their properties' types (connector/hubspot/values.py), fetched
    from the properties API once per object type (`property_types`).

    Other keywords tune the Client (timeouts, retries, waits, `token_margin`; `sleep`, `random`,
    `clock` and `token_clock` are for tests, as is `types_clock`, the clock of the types'
    refresh)."""

    def __init__(
        self,
        access_token: str | None = None,
        *,
        oauth: OAuthApp | None = None,
        base_url: str = DEFAULT_BASE_URL,
        ca_bundle: Path | str | None = None,
        prompt_property: str = "lastmile_prompt",
        task_key_property: str = "lastmile_key",
        types_clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        self.prompt_property = check_name(prompt_property)
        self.task_key_property = check_name(task_key_property)
        self.client = Client(
            access_token, oauth=oauth, base_url=base_url, ca_bundle=ca_bundle, **client_options
        )
        self._writer = Writer(self.client, task_key_property=task_key_property)
        # object type -> (property name -> type in describe's words, when it was fetched)
        self._types: dict[str, tuple[dict[str, str], float]] = {}
        self._types_lock = threading.Lock()
        self._types_clock = types_clock

    def read(self, object: str, record_id: str, fields: Iterable[str]) -> RecordState:
        """One batch read of the record (`hs_lastmodifieddate` always included)."""
        found = self.read_many(object, [record_id], fields)
        if record_id not in found:
            raise NotFound(f"{object} {record_id} does not exist")
        return found[record_id]

    def read_many(
        self, object: str, record_ids: Sequence[str], fields: Iterable[str]
    ) -> dict[str, RecordState]:
        """The records that exist among `record_ids`, 100 a call; missing ones are left out."""
        check_name(object, "object")
        ids = list(dict.fromkeys(check_id(record_id) for record_id in record_ids))
        names = [check_name(name) for name in fields]
        wanted = list(dict.fromkeys([*(crm_name(n) for n in names), LAST_MODIFIED]))
        kinds = self.property_types(object, names) if ids else {}
        found: dict[str, RecordState] = {}
        api = self.client.api.crm.objects.batch_api
        for part in chunks(ids):
            body = {
                "inputs": [{"id": record_id} for record_id in part],
                "properties": wanted,
                "propertiesWithHistory": [],
            }
            data = self.client.call("read", api.read_with_http_info, object, body)
            for record in data.results or []:
                props = record.properties or {}
                found[str(record.id)] = RecordState(
                    object=object,
                    record_id=str(record.id),
                    fields={
                        name: typed(name, props.get(crm_name(name)), kinds.get(name))
                        for name in names
                    },
                    last_modified=parse_time(props.get(LAST_MODIFIED))
                    or parse_time(record.updated_at),
                )
        return found

    def property_types(self, object: str, names: Iterable[str] = ()) -> Mapping[str, str]:
        """The object type's properties by name -> type in describe's words (`values.kind_of`),
        from the properties API once and then cached; asked again (at most once a minute)
        when one of `names` is not among them, e.g. a property created since."""
        now = self._types_clock()
        with self._types_lock:
            cached = self._types.get(object)
        if cached is not None:
            kinds, fetched = cached
            if all(n in kinds for n in names) or now - fetched < TYPES_REFRESH_S:
                return kinds
        self.describe(object)
        return self._types[object][0]

    def describe(self, object: str) -> dict[str, Any]:
        """The object type's properties as a describe answer (name, label, type in Salesforce's
        words, picklist values; one call), for `lastmile schema pull`, the labels prompts use
        and the types values are read by (`property_types`, which it refreshes): `number` is
        `double`, `bool` (a checkbox) `boolean`, `date` and `datetime` themselves, `enumeration`
        a `picklist`, the rest `string`. `OwnerId` is listed as the owner (`hubspot_owner_id`)."""
        check_name(object, "object")
        api = self.client.api.crm.properties.core_api
        data = self.client.call("describe", partial(api.get_all_with_http_info, object))
        fields = []
        for prop in data.results or []:
            kind = kind_of(prop.type, prop.field_type)
            options = prop.options if kind == "picklist" else []
            meta = prop.modification_metadata
            fields.append(
                {
                    "name": prop.name,
                    "label": prop.label or prop.name,
                    "type": kind,
                    "picklistValues": [
                        {"value": o.value, "active": not o.hidden} for o in options or []
                    ],
                    "restrictedPicklist": kind == "picklist",
                    "updateable": not (meta and meta.read_only_value),
                }
            )
        for rule_name, hubspot_name in ALIASES.items():
            fields += [{**f, "name": rule_name} for f in fields if f["name"] == hubspot_name]
        kinds = {str(f["name"]): str(f["type"]) for f in fields}
        with self._types_lock:
            self._types[object] = (kinds, self._types_clock())
        return {"name": object, "label": object, "fields": fields}

    def apply(self, writes: Sequence[WriteBack]) -> list[WriteResult]:
        return self._writer.apply(writes)

    def usage(self) -> ApiUsage | None:
        return self.client.usage()

    def check(self) -> None:
        """One cheap call: a page of one task (the object every rule pack writes)."""
        api = self.client.api.crm.objects.basic_api
        self.client.call("check", partial(api.get_page_with_http_info, "tasks", limit=1))

    def session_owner(self, session_id: str) -> tuple[str, str] | None:
        """HubSpot signs its webhooks instead of sending a session: never a live session."""
        return None


def _text(value: Any) -> str | None:
    """A setting's plain text, whether given as str or as pydantic's SecretStr."""
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    text = str(reveal() if reveal else value).strip()
    return text or None


def from_settings(settings: Any, **options: Any) -> HubSpotConnector:
    """A connector from `lastmile.settings.Settings`: hubspot_access_token (a private app), or
    hubspot_refresh_token with hubspot_client_id and the first hubspot_client_secret (a public
    app); hubspot_base_url, hubspot_ca_bundle, prompt_field, task_key_field."""
    token = _text(getattr(settings, "hubspot_access_token", None))
    refresh = _text(getattr(settings, "hubspot_refresh_token", None))
    oauth = None
    if token is not None and refresh is not None:
        raise ValueError(
            "both LASTMILE_HUBSPOT_ACCESS_TOKEN and LASTMILE_HUBSPOT_REFRESH_TOKEN are set: "
            "keep the access token for a private app, the refresh token for a public app"
        )
    if refresh is not None:
        client_id = _text(getattr(settings, "hubspot_client_id", None))
        secrets = [_text(s) for s in getattr(settings, "hubspot_client_secret", None) or []]
        if client_id is None or not secrets or secrets[0] is None:
            raise ValueError(
                "LASTMILE_HUBSPOT_REFRESH_TOKEN needs the public app's LASTMILE_HUBSPOT_CLIENT_ID "
                "and LASTMILE_HUBSPOT_CLIENT_SECRET too"
            )
        oauth = OAuthApp(client_id, secrets[0], refresh)
    elif token is None:
        raise ValueError(
            "no HubSpot credentials: set LASTMILE_HUBSPOT_ACCESS_TOKEN (a private app) or "
            "LASTMILE_HUBSPOT_REFRESH_TOKEN with LASTMILE_HUBSPOT_CLIENT_ID (a public app)"
        )
    return HubSpotConnector(
        token,
        oauth=oauth,
        base_url=_text(getattr(settings, "hubspot_base_url", None)) or DEFAULT_BASE_URL,
        ca_bundle=_text(getattr(settings, "hubspot_ca_bundle", None)),
        prompt_property=_text(getattr(settings, "prompt_field", None)) or "lastmile_prompt",
        task_key_property=_text(getattr(settings, "task_key_field", None)) or "lastmile_key",
        **options,
    )
