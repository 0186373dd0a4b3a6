"""The login endpoints, driven by simple-salesforce's own login functions: the SOAP login
(username + password + security token) and the OAuth 2.0 JWT bearer flow."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sandbox_helpers import trusting
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed
from simple_salesforce.login import soap_login, token_login

USER, PASSWORD, TOKEN = "lastmile@example.com", "correct horse", "T0KEN"
SOAP_BODY = """<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:urn="urn:partner.soap.sforce.com">
  <env:Header><urn:CallOptions><urn:client>lastmile</urn:client></urn:CallOptions></env:Header>
  <env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">
    <n1:username>{username}</n1:username><n1:password>{password}</n1:password>
  </n1:login></env:Body>
</env:Envelope>"""
SOAP_HEADERS = {"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"}


def login(sandbox, password: str) -> tuple[str, str]:
    return soap_login(
        f"{sandbox.instance_url}/services/Soap/u/62.0",
        SOAP_BODY.format(username=USER, password=password),
        SOAP_HEADERS,
        None,
        trusting(sandbox),
    )


def test_soap_login_issues_a_fresh_working_session(sandbox):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    sandbox.expire_sessions()
    session_id, instance = login(sandbox, PASSWORD + TOKEN)
    assert session_id != sandbox.session_id and session_id.startswith(sandbox.org_id[:15] + "!")
    assert instance == sandbox.instance_url.removeprefix("https://")
    sf = Salesforce(instance=instance, session_id=session_id, session=trusting(sandbox))
    assert sf.Account.create({"Name": "x"})["success"] is True


@pytest.mark.parametrize("password", [PASSWORD, PASSWORD + "wrong", "", TOKEN])
def test_soap_login_refuses_wrong_secrets_with_invalid_login(sandbox, password):
    sandbox.add_login(USER, PASSWORD, TOKEN)
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        login(sandbox, password)
    assert exc.value.code == "INVALID_LOGIN"
    assert "Invalid username, password, security token" in str(exc.value)


def test_soap_login_refuses_a_body_with_entities(sandbox):
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    response = trusting(sandbox).post(
        f"{sandbox.instance_url}/services/Soap/u/62.0", data=bomb, headers=SOAP_HEADERS
    )
    assert response.status_code == 500 and b"INVALID_LOGIN" in response.content


def rsa_pair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, str]:
    return rsa_pair()


def token_request(sandbox, private: bytes, **claims) -> tuple[str, str]:
    payload = {"iss": "consumer-key", "sub": USER, "aud": "https://login.salesforce.com",
               "exp": f"{time.time() + 180:.0f}"}  # fmt: skip
    payload.update(claims)
    data = {
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt.encode(payload, private, algorithm="RS256"),
    }
    return token_login(
        f"{sandbox.instance_url}/services/oauth2/token", data, "login", "consumer-key", None,
        None, trusting(sandbox),
    )  # fmt: skip


def test_jwt_bearer_flow_issues_a_session(sandbox, keys):
    private, public = keys
    sandbox.add_login(USER, PASSWORD, TOKEN)
    sandbox.add_jwt_app("consumer-key", public)
    session_id, instance = token_request(sandbox, private)
    sf = Salesforce(instance=instance, session_id=session_id, session=trusting(sandbox))
    assert sf.Contact.create({"LastName": "x"})["success"] is True
    # a user of the org (by Username) may be the subject too; the audience may be the instance
    session_id, _ = token_request(
        sandbox, private, sub="sanne.devries@advies.sandbox", aud=sandbox.instance_url
    )
    sf = Salesforce(instance=instance, session_id=session_id, session=trusting(sandbox))
    contact_id = sf.Contact.create({"LastName": "y"})["id"]
    assert sf.Contact.get(contact_id)["CreatedById"] == sandbox.sales_user_id


@pytest.mark.filterwarnings("ignore::UserWarning")  # simple-salesforce's consent hint
@pytest.mark.parametrize(
    ("claims", "signer", "error"),
    [
        ({"iss": "unknown"}, "right", "invalid_client_id"),
        ({}, "wrong", "invalid_grant"),
        ({"aud": "https://example.com"}, "right", "invalid_grant"),
        ({"exp": f"{time.time() - 10:.0f}"}, "right", "invalid_grant"),
        ({"sub": "nobody@example.com"}, "right", "invalid_grant"),
    ],
)
def test_jwt_bearer_flow_refusals(sandbox, keys, claims, signer, error):
    private, public = keys
    sandbox.add_jwt_app("consumer-key", public)
    key = private if signer == "right" else rsa_pair()[0]
    with pytest.raises(SalesforceAuthenticationFailed) as exc:
        token_request(sandbox, key, **claims)
    assert exc.value.code == error


def test_an_unsupported_grant_is_refused(sandbox):
    response = trusting(sandbox).post(
        f"{sandbox.instance_url}/services/oauth2/token", data={"grant_type": "password"}
    )
    assert response.status_code == 400 and response.json()["error"] == "unsupported_grant_type"
