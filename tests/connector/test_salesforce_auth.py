"""The three ways in (a session id, the SOAP login, the OAuth JWT bearer flow) against the
sandbox's login endpoints, and renewal of an expired session."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lastmile.connector.base import AuthError, WriteBack
from lastmile.connector.salesforce import (
    GivenSession,
    JwtLogin,
    PasswordLogin,
    from_settings,
    make_login,
)
from lastmile.connector.salesforce.auth import login_url_for
from lastmile.settings import Settings

USER, PASSWORD, TOKEN = "lastmile@example.com", "correct horse", "T0KEN"


def rsa_pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return rsa_pem_pair()


def test_a_given_session_works_and_cannot_be_renewed(connector, opportunity, sandbox):
    record_id = opportunity()
    assert connector.read("Opportunity", record_id, ["Name"]).fields["Name"] == "Acme mortgage"

    sandbox.expire_sessions()

    with pytest.raises(AuthError, match="cannot be renewed"):
        connector.read("Opportunity", record_id, ["Name"])


def test_password_login(make_connector, opportunity, sandbox):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    connector = make_connector(PasswordLogin(sandbox.instance_url, USER, PASSWORD, TOKEN))
    record_id = opportunity()

    connector.check()

    assert connector.read("Opportunity", record_id, ["Name"]).fields["Name"] == "Acme mortgage"


def test_a_wrong_password_is_refused(make_connector, sandbox):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    connector = make_connector(PasswordLogin(sandbox.instance_url, USER, "wrong", TOKEN))

    with pytest.raises(AuthError, match="INVALID_LOGIN"):
        connector.check()


def test_jwt_bearer_login(make_connector, opportunity, sandbox, tmp_path, app_key, crm):
    private, public = app_key
    sandbox.add_jwt_app("3MVG9-lastmile", public)
    key_file = tmp_path / "server.key"
    key_file.write_text(private)
    soql = f"SELECT Username FROM User WHERE Id = '{sandbox.integration_user_id}'"
    [user] = crm.query(soql)["records"]  # the org's own integration user, no password set
    login = JwtLogin.from_key_file(
        key_file,
        login_url=sandbox.instance_url,
        consumer_key="3MVG9-lastmile",
        username=user["Username"],
    )
    connector = make_connector(login)
    record_id = opportunity()

    [result] = connector.apply([WriteBack("Opportunity", record_id, {"NextStep": "Bellen"})])

    assert result.status == "applied"
    assert connector.read("Opportunity", record_id, ["NextStep"]).fields["NextStep"] == "Bellen"


def test_jwt_signed_with_another_key_is_refused(make_connector, sandbox, app_key):
    sandbox.add_jwt_app("3MVG9-lastmile", app_key[1])
    stranger, _ = rsa_pem_pair()
    login = JwtLogin(sandbox.instance_url, "3MVG9-lastmile", USER, stranger)

    with pytest.raises(AuthError, match="invalid_grant"):
        make_connector(login).check()


@pytest.mark.parametrize("mode", ["password", "jwt"])
def test_an_expired_session_is_renewed_once_transparently(
    make_connector, opportunity, sandbox, tmp_path, app_key, mode
):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    sandbox.add_jwt_app("3MVG9-lastmile", app_key[1])
    if mode == "password":
        login = PasswordLogin(sandbox.instance_url, USER, PASSWORD, TOKEN)
    else:
        login = JwtLogin(sandbox.instance_url, "3MVG9-lastmile", USER, app_key[0])
    connector = make_connector(login)
    record_id = opportunity()
    connector.read("Opportunity", record_id, ["Name"])

    sandbox.expire_sessions()
    [result] = connector.apply([WriteBack("Opportunity", record_id, {"NextStep": "Mailen"})])

    assert result.status == "applied"
    sandbox.expire_sessions()
    assert connector.read("Opportunity", record_id, ["NextStep"]).fields["NextStep"] == "Mailen"


def test_from_settings_with_the_sandbox_settings(sandbox, opportunity):
    values = {
        key.removeprefix("LASTMILE_").lower(): value for key, value in sandbox.settings().items()
    }
    connector = from_settings(Settings(**values))
    record_id = opportunity()

    assert connector.read("Opportunity", record_id, ["Name"]).fields["Name"] == "Acme mortgage"
    assert connector.prompt_field == "Lastmile_Prompt__c"


def test_from_settings_renews_a_given_session_with_the_password(sandbox, opportunity):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    settings = SimpleNamespace(
        salesforce_instance_url=sandbox.instance_url,
        salesforce_session_id=sandbox.session_id,
        salesforce_username=USER,
        salesforce_password=PASSWORD,
        salesforce_security_token=TOKEN,
        salesforce_login_url=sandbox.instance_url,
        salesforce_ca_bundle=sandbox.ca_bundle,
        task_key_field="Lastmile_Key__c",
    )
    connector = from_settings(settings)
    record_id = opportunity()

    sandbox.expire_sessions()

    assert connector.read("Opportunity", record_id, ["Name"]).fields["Name"] == "Acme mortgage"


def test_incomplete_credentials_say_what_is_missing(tmp_path):
    with pytest.raises(ValueError, match="no Salesforce credentials"):
        make_login()
    with pytest.raises(ValueError, match="PASSWORD"):
        make_login(username=USER)
    with pytest.raises(ValueError, match="PRIVATE_KEY_FILE"):
        make_login(consumer_key="3MVG9", username=USER)
    with pytest.raises(AuthError, match="cannot read the JWT private key"):
        make_login(consumer_key="3MVG9", username=USER, private_key_file=tmp_path / "absent")


def test_login_urls_follow_the_domain():
    assert login_url_for("login") == "https://login.salesforce.com"
    assert login_url_for("test") == "https://test.salesforce.com"
    assert login_url_for("acme.my") == "https://acme.my.salesforce.com"
    assert login_url_for("https://127.0.0.1:8443/") == "https://127.0.0.1:8443"
    login, first = make_login(username=USER, password=PASSWORD, domain="test")
    assert isinstance(login, PasswordLogin) and login.login_url == "https://test.salesforce.com"
    assert first is None
    login, first = make_login(instance_url="https://x.my.salesforce.com/", session_id="00D!x")
    assert isinstance(login, GivenSession) and not login.renewable
    assert first is not None and first.instance_url == "https://x.my.salesforce.com"


def test_jwt_audience_names_the_login_server():
    def audience(url: str) -> str:
        return JwtLogin(url, "k", USER, "pem")._audience()

    assert audience("https://login.salesforce.com") == "https://login.salesforce.com"
    assert audience("https://test.salesforce.com") == "https://test.salesforce.com"
    assert audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
