"""`lastmile sandbox --crm hubspot` as a person runs it: the settings one KEY=value a line on
stdout, and they connect a stock client to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from click.testing import CliRunner
from hubspot import HubSpot

from lastmile.cli import main
from lastmile.connector.hubspot import from_settings
from lastmile.settings import Settings

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
KEYS = {
    "LASTMILE_HUBSPOT_BASE_URL",
    "LASTMILE_HUBSPOT_ACCESS_TOKEN",
    "LASTMILE_HUBSPOT_CLIENT_SECRET",
    "LASTMILE_HUBSPOT_CA_BUNDLE",
    "LASTMILE_INTEGRATION_USER_ID",
}


@contextmanager
def printed_settings(tmp_path: Path, keys: set[str], *options: str) -> Iterator[dict[str, str]]:
    """Run `lastmile sandbox --crm hubspot OPTIONS` until the block ends; the settings it
    printed, which must be `keys`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    command = [LASTMILE, "sandbox", "--crm", "hubspot", "--port", "0", "--data", str(tmp_path)]
    process = subprocess.Popen(
        [*command, *options],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        settings = dict(process.stdout.readline().strip().split("=", 1) for _ in keys)
        assert set(settings) == keys
        yield settings
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_the_printed_settings_connect_a_client(tmp_path: Path) -> None:
    with printed_settings(tmp_path, KEYS) as settings:
        client = HubSpot(
            access_token=settings["LASTMILE_HUBSPOT_ACCESS_TOKEN"],
            host=settings["LASTMILE_HUBSPOT_BASE_URL"],
            ssl_ca_cert=settings["LASTMILE_HUBSPOT_CA_BUNDLE"],
        )
        deals = client.crm.objects.basic_api.get_page("deals", properties=["dealname"])
        assert sorted(d.properties["dealname"] for d in deals.results) == [
            "Acme renewal",
            "Globex pilot",
        ]


def test_salesforce_s_outbound_option_is_refused_with_hubspot(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["sandbox", "--crm", "hubspot", "--data", str(tmp_path), "--outbound", "http://x/"],
    )
    assert result.exit_code == 2 and "--webhook" in result.output


OAUTH_KEYS = (KEYS - {"LASTMILE_HUBSPOT_ACCESS_TOKEN"}) | {
    "LASTMILE_HUBSPOT_CLIENT_ID",
    "LASTMILE_HUBSPOT_REFRESH_TOKEN",
}


def test_with_oauth_the_printed_public_app_refreshes_its_expiring_tokens(tmp_path: Path) -> None:
    options = ("--oauth", "--token-lifetime", "2")
    with printed_settings(tmp_path, OAUTH_KEYS, *options) as printed:
        settings = Settings(**{k.removeprefix("LASTMILE_").lower(): v for k, v in printed.items()})
        connector = from_settings(settings)
        deals = connector.client.api.crm.objects.basic_api
        page = partial(deals.get_page_with_http_info, "deals")
        assert len(connector.client.call("read", page).results) == 2
        time.sleep(2.2)  # the first token's life (2 s) ran out
        assert len(connector.client.call("read", page).results) == 2
        assert connector.client.tokens.refreshes == 2


def test_oauth_is_hubspot_s(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sandbox", "--data", str(tmp_path), "--oauth"])
    assert result.exit_code == 2 and "--crm hubspot" in result.output
