"""Helpers of the HubSpot tests, importable as `hubspot_support` (pytest puts this folder on
sys.path for its conftest.py)."""

from __future__ import annotations

from hubspot import HubSpot

from lastmile.connector.hubspot_sandbox import HubSpotSandbox


def stock_client(sandbox: HubSpotSandbox, token: str | None = None) -> HubSpot:
    """hubspot-api-client as anyone would configure it, pointed at the sandbox."""
    return HubSpot(
        access_token=token or sandbox.access_token,
        host=sandbox.base_url,
        ssl_ca_cert=str(sandbox.ca_bundle),
    )


# HubSpot sends `amount` and `closedate` as text; the rule compares a number and a date.
LARGE_DEALS = """
pack: large-deals
crm: hubspot
rules:
  - id: large-deal-closing-this-year
    object: deals
    if:
      on: [created, updated]
      all:
        - amount: {gt: 1000}
        - closedate: {gte: "2026-01-01"}
        - closedate: {lt: "2027-01-01"}
    then:
      default: {description: Large deal closing this year}
"""
