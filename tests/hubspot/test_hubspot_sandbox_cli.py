"""`lastmile sandbox --crm hubspot` as a person runs it: the settings one KEY=value a line on
stdout, and they connect a stock client to it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hubspot import HubSpot

from lastmile.cli import main

LASTMILE = str(Path(sys.executable).with_name("lastmile"))
KEYS = {
    "LASTMILE_HUBSPOT_BASE_URL",
    "LASTMILE_HUBSPOT_ACCESS_TOKEN",
    "LASTMILE_HUBSPOT_CLIENT_SECRET",
    "LASTMILE_HUBSPOT_CA_BUNDLE",
    "LASTMILE_INTEGRATION_USER_ID",
}


def test_the_printed_settings_connect_a_client(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    process = subprocess.Popen(
        [LASTMILE, "sandbox", "--crm", "hubspot", "--port", "0", "--data", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        settings = dict(process.stdout.readline().strip().split("=", 1) for _ in KEYS)
        assert set(settings) == KEYS
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
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def test_salesforce_s_outbound_option_is_refused_with_hubspot(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["sandbox", "--crm", "hubspot", "--data", str(tmp_path), "--outbound", "http://x/"],
    )
    assert result.exit_code == 2 and "--webhook" in result.output
