"""The HubSpot sandbox CRM: a local HTTPS server speaking the part of HubSpot's CRM API that
Lastmile and hubspot-api-client use, with OAuth for a public app, signed webhooks and record pages
(`lastmile sandbox --crm hubspot`)."""

from lastmile.connector.hubspot_sandbox.sandbox import HubSpotSandbox

__all__ = ["HubSpotSandbox"]
