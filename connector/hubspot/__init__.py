"""The HubSpot connector: reads records and writes back defaults, prompts and follow-up tasks
through HubSpot's CRM v3 API (hubspot-api-client), in batches of up to 100.

hubspot-api-client takes most of a second to import, so the connector is imported when first
asked for: the receiver uses `signature` and `names` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lastmile.connector.hubspot.connector import (
        DEFAULT_BASE_URL,
        HubSpotConnector,
        from_settings,
    )

__all__ = ["DEFAULT_BASE_URL", "HubSpotConnector", "from_settings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from lastmile.connector.hubspot import connector

        return getattr(connector, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
