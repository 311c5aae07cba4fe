"""OAuth 2.0 test infrastructure against real servers: the authorization server (sandbox/oauth_server.py),
Dovecot with its oauth2 passdb and the SMTP relay with XOAUTH2/OAUTHBEARER, wired by SandboxStack.

No mocks: tokens come from the token endpoint over HTTPS (requests, msal), Dovecot and the relay check
them by RFC 7662 introspection at that server, and clients log in with imaplib and smtplib.
"""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.mailserver import DovecotServer  # noqa: E402
from sandbox.smtp_oauth import RelayOAuth, parse_oauthbearer, parse_xoauth2  # noqa: E402
from sandbox.smtp_relay import SmtpRelay  # noqa: E402
from sandbox.stack import CUSTOMER, HELPDESK, OAUTH_CLIENT, OAUTH_MSAL_CLIENT, SandboxStack  # noqa: E402

MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
EXCHANGE_SCOPE = "https://outlook.office365.com/.default"


def sasl(mechanism: str, user: str, token: str) -> str:
    """The SASL initial response a client sends (Google's XOAUTH2, RFC 7628's OAUTHBEARER)."""
    if mechanism == "XOAUTH2":
        return f"user={user}\x01auth=Bearer {token}\x01\x01"
    return f"n,a={user},\x01auth=Bearer {token}\x01\x01"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """An OAuth-only stack (passwords refused), as Exchange Online and Google Workspace are."""
    with SandboxStack(tmp_path_factory.mktemp("oauth-only"), jira=False, oauth_only=True) as s:
        yield s


@pytest.fixture(scope="module")
def idp(stack):
    return stack.oauth_server


@pytest.fixture
def ca(stack) -> str:
    return str(stack.ca_file)


def imap_authenticate(stack: SandboxStack, mechanism: str, user: str, token: str) -> imaplib.IMAP4_SSL:
    """An IMAPS session logged in with a bearer token (raises imaplib.IMAP4.error when refused)."""
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    client = imaplib.IMAP4_SSL(stack.host, stack.mailserver.imaps_port, ssl_context=context, timeout=10)
    try:
        client.authenticate(mechanism, lambda _challenge: sasl(mechanism, user, token).encode())
    except BaseException:
        client.shutdown()
        raise
    return client


def client_credentials_token(stack: SandboxStack, client_id: str, secret: str, **data: str) -> requests.Response:
    return requests.post(stack.oauth_server.token_url, auth=(client_id, secret),
                         data={"grant_type": "client_credentials", **data}, verify=str(stack.ca_file), timeout=10)


def refresh(stack: SandboxStack, refresh_token: str, client_id: str = OAUTH_CLIENT,
            secret: str | None = None) -> requests.Response:
    """The refresh-token grant as Google's clients send it (client_secret_post)."""
    secret = secret if secret is not None else stack.oauth_server.clients[client_id].client_secret
    return requests.post(stack.oauth_server.token_url, verify=str(stack.ca_file), timeout=10,
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                               "client_id": client_id, "client_secret": secret})


def smtp_session(stack: SandboxStack) -> smtplib.SMTP:
    client = smtplib.SMTP(stack.host, stack.smtp_port, timeout=10)
    client.starttls(context=ssl.create_default_context(cafile=str(stack.ca_file)))
    client.ehlo()
    return client


def msal_app(stack: SandboxStack, secret: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    import msal

    if monkeypatch is not None:
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's own `verify` (the one
        # msal sets from verify=): with either set, msal would not trust the sandbox CA.
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    client = stack.oauth_server.clients[OAUTH_MSAL_CLIENT]
    return msal.ConfidentialClientApplication(
        client.client_id, client_credential=secret if secret is not None else client.client_secret,
        authority=stack.oauth_server.authority, instance_discovery=False, verify=str(stack.ca_file), timeout=10)


# ------------------------------------------------------------------------------------------------ IMAP
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_client_credentials_token_logs_in_to_imap(stack, idp, mechanism):
    client = idp.clients[OAUTH_MSAL_CLIENT]  # app-only access to the helpdesk mailbox
    response = client_credentials_token(stack, client.client_id, client.client_secret, scope=EXCHANGE_SCOPE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == idp.token_lifetime
    assert body["scope"] == EXCHANGE_SCOPE
    before = idp.stats.introspections_active
    imap = imap_authenticate(stack, mechanism, HELPDESK, body["access_token"])
    try:
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()
    assert idp.stats.introspections_active == before + 1  # Dovecot asked the authorization server
    assert idp.stats.introspected_by["dovecot"] >= 1


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_refresh_token_grant_logs_in_to_imap(stack, idp, mechanism):
    response = refresh(stack, stack.refresh_tokens[HELPDESK])
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body  # the refresh token is kept, not rotated (as Google does)
    imap = imap_authenticate(stack, mechanism, HELPDESK, body["access_token"])
    try:
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()


def test_token_of_another_mailbox_is_refused(stack):
    customer_token = refresh(stack, stack.refresh_tokens[CUSTOMER]).json()["access_token"]
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_authenticate(stack, "XOAUTH2", HELPDESK, customer_token)
    imap_authenticate(stack, "XOAUTH2", CUSTOMER, customer_token).logout()


def test_unknown_and_revoked_tokens_are_refused(stack, idp):
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_authenticate(stack, "OAUTHBEARER", HELPDESK, "not-a-token-this-server-issued")
    token = refresh(stack, stack.refresh_tokens[HELPDESK]).json()["access_token"]
    idp.revoke(token)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_authenticate(stack, "XOAUTH2", HELPDESK, token)


def test_expired_token_is_refused_and_a_renewed_one_logs_in(stack, idp):
    short = idp.add_client("short-lived", grant_types=("refresh_token",), token_lifetime=2)
    refresh_token = idp.issue_refresh_token(HELPDESK, short.client_id)
    issued_before = idp.stats.tokens_issued["refresh_token"]

    first = refresh(stack, refresh_token, short.client_id, short.client_secret).json()
    assert first["expires_in"] == 2
    imap_authenticate(stack, "XOAUTH2", HELPDESK, first["access_token"]).logout()
    time.sleep(2.2)  # past the lifetime
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        imap_authenticate(stack, "XOAUTH2", HELPDESK, first["access_token"])

    second = refresh(stack, refresh_token, short.client_id, short.client_secret).json()
    assert second["access_token"] != first["access_token"]
    imap_authenticate(stack, "XOAUTH2", HELPDESK, second["access_token"]).logout()
    assert idp.stats.tokens_issued["refresh_token"] == issued_before + 2  # one renewal after the first


def test_password_is_refused_in_oauth_only_mode(stack):
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    with imaplib.IMAP4_SSL(stack.host, stack.mailserver.imaps_port, ssl_context=context, timeout=10) as imap:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):  # not a temporary failure
            imap.login(HELPDESK, stack.users[HELPDESK])
    with smtp_session(stack) as smtp:
        offered = set(smtp.esmtp_features["auth"].split())
        assert offered == {"XOAUTH2", "OAUTHBEARER"}
        plain = base64.b64encode(f"\0{HELPDESK}\0{stack.users[HELPDESK]}".encode()).decode()
        code, _ = smtp.docmd("AUTH", f"PLAIN {plain}")
        assert code == 504  # mechanism not offered
    with stack.imap(HELPDESK) as harness:  # the harness still reaches the mailbox (Dovecot master user)
        assert "jicket" in harness.list_folders()


# ------------------------------------------------------------------------------------------------ token endpoint
def test_wrong_client_secret_gives_invalid_client(stack, idp):
    errors_before = idp.stats.token_errors["invalid_client"]
    basic = client_credentials_token(stack, OAUTH_MSAL_CLIENT, "wrong-secret")
    posted = refresh(stack, stack.refresh_tokens[HELPDESK], secret="wrong-secret")
    unknown = client_credentials_token(stack, "no-such-client", "whatever")
    for response in (basic, posted, unknown):
        assert response.status_code == 401
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        assert body["error"] == "invalid_client" and "access_token" not in body
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert idp.stats.token_errors["invalid_client"] == errors_before + 3


def test_grants_are_limited_per_client(stack, idp):
    # The Google-style client has no client_credentials grant; a refresh token works only for its client.
    google = idp.clients[OAUTH_CLIENT]
    response = client_credentials_token(stack, google.client_id, google.client_secret)
    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    other = idp.add_client("other-app", grant_types=("refresh_token",))
    response = refresh(stack, stack.refresh_tokens[HELPDESK], other.client_id, other.client_secret)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_introspection_follows_rfc7662(stack, idp):
    token = refresh(stack, stack.refresh_tokens[HELPDESK]).json()["access_token"]
    dovecot = idp.clients["dovecot"]

    def introspect(auth: tuple[str, str] | None, value: str = token) -> requests.Response:
        return requests.post(idp.introspection_url, data={"token": value}, auth=auth, verify=str(stack.ca_file),
                             timeout=10)

    body = introspect((dovecot.client_id, dovecot.client_secret)).json()
    assert body["active"] is True and body["username"] == HELPDESK and body["client_id"] == OAUTH_CLIENT
    assert body["token_type"] == "Bearer" and body["exp"] - body["iat"] == idp.token_lifetime
    assert introspect((dovecot.client_id, dovecot.client_secret), "unknown").json() == {"active": False}
    # Only resource servers may introspect; others learn nothing, unauthenticated callers are refused.
    app = idp.clients[OAUTH_CLIENT]
    assert introspect((app.client_id, app.client_secret)).json() == {"active": False}
    refused = introspect(None)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


# ------------------------------------------------------------------------------------------------ msal
def test_msal_client_credentials_flow(stack, idp, monkeypatch):
    discovery_before = idp.stats.discovery_requests
    result = msal_app(stack, monkeypatch=monkeypatch).acquire_token_for_client(scopes=[EXCHANGE_SCOPE])
    assert "access_token" in result, result
    assert result["token_source"] == "identity_provider"
    assert idp.stats.discovery_requests == discovery_before + 1  # msal read the tenant's OIDC metadata
    assert idp.token_info(result["access_token"]).username == HELPDESK
    imap_authenticate(stack, "XOAUTH2", HELPDESK, result["access_token"]).logout()

    wrong = msal_app(stack, secret="wrong-secret", monkeypatch=monkeypatch).acquire_token_for_client(
        scopes=[EXCHANGE_SCOPE])
    assert wrong.get("error") == "invalid_client" and "access_token" not in wrong


# ------------------------------------------------------------------------------------------------ SMTP
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtp_oauth_login_sends_mail(stack, mechanism):
    token = refresh(stack, stack.refresh_tokens[HELPDESK]).json()["access_token"]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = HELPDESK, CUSTOMER, f"sent after {mechanism}"
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content("hello\n")
    with smtp_session(stack) as smtp:
        code, _ = smtp.auth(mechanism, lambda challenge=None: sasl(mechanism, HELPDESK, token))
        assert code == 235
        smtp.send_message(msg)
    assert stack.relay.messages[-1].login == HELPDESK
    assert (mechanism, HELPDESK) in stack.relay.oauth_logins
    with stack.imap(CUSTOMER) as client:
        assert client.find("INBOX", "Message-ID", msg["Message-ID"])


@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_smtp_bad_token_is_refused(stack, mechanism):
    customer_token = refresh(stack, stack.refresh_tokens[CUSTOMER]).json()["access_token"]
    for token in ("forged-token", customer_token):  # unknown; valid but for another mailbox
        with smtp_session(stack) as smtp:
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                # smtplib answers the error challenge with the authobject's second result ("")
                smtp.auth(mechanism, lambda challenge=None, t=token: sasl(mechanism, HELPDESK, t)
                          if challenge is None else "")
            assert refused.value.smtp_code == 535
            with pytest.raises(smtplib.SMTPSenderRefused):
                smtp.sendmail(HELPDESK, [CUSTOMER], b"Subject: x\r\n\r\nx\r\n")  # AUTH is required
    assert stack.relay.auth_failures[-2:] == [HELPDESK, HELPDESK]


def test_smtp_error_challenge_carries_the_oauth_error(stack):
    """A refused XOAUTH2 token: 334 with base64 JSON ({"status": "401", ...}), then 535 after the client's
    empty answer (Google's exchange)."""
    with smtp_session(stack) as smtp:
        initial = base64.b64encode(sasl("XOAUTH2", HELPDESK, "forged").encode()).decode()
        code, challenge = smtp.docmd("AUTH", f"XOAUTH2 {initial}")
        assert code == 334
        assert json.loads(base64.b64decode(challenge))["status"] == "401"
        code, _ = smtp.docmd("")
        assert code == 535


def test_relay_reports_an_unreachable_authorization_server(stack):
    dead = RelayOAuth("https://127.0.0.1:9/oauth2/introspect", "relay", "secret", stack.ca_file, timeout=2)
    relay = SmtpRelay(stack.host, stack.mailserver.lmtp_port, stack.users, stack.mailserver.tls.cert,
                      stack.mailserver.tls.key, oauth=dead)
    with relay:
        with smtplib.SMTP(stack.host, relay.port, timeout=10) as smtp:
            smtp.starttls(context=ssl.create_default_context(cafile=str(stack.ca_file)))
            smtp.ehlo()  # smtplib's auth() would take aiosmtpd's "503 send EHLO first" for success
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                smtp.auth("XOAUTH2", lambda challenge=None: sasl("XOAUTH2", HELPDESK, "t"))
            assert refused.value.smtp_code == 454  # temporary: the client may retry later
    assert relay.oauth_errors and "introspection" in relay.oauth_errors[0]


def test_sasl_parsers():
    assert parse_xoauth2(b"user=a@b\x01auth=Bearer tok\x01\x01") == ("a@b", "tok")
    assert parse_xoauth2(b"user=a@b\x01auth=Basic tok\x01\x01") is None
    assert parse_oauthbearer(b"n,a=a@b,\x01host=h\x01port=1\x01auth=Bearer tok\x01\x01") == ("a@b", "tok")
    assert parse_oauthbearer(b"n,,\x01auth=Bearer tok\x01\x01") == (None, "tok")
    assert parse_oauthbearer(b"n,a=x=2Cy=3Dz,\x01auth=Bearer t\x01\x01") == ("x,y=z", "t")
    assert parse_oauthbearer(b"p=tls-unique,,\x01auth=Bearer t\x01\x01") is None


# ------------------------------------------------------------------------------------------------ stack wiring
def test_connection_env_credentials_work(stack, monkeypatch):
    env = stack.connection_env()
    imap, smtp = json.loads(env["AIRFLOW_CONN_JICKET_IMAP"]), json.loads(env["AIRFLOW_CONN_JICKET_SMTP"])
    for conn in (imap, smtp):
        assert "password" not in conn and conn["login"] == HELPDESK
        assert conn["extra"]["auth_type"] == "oauth2"
    # Google style: what the extras name is enough to obtain a token that opens the mailbox.
    extra = imap["extra"]
    response = requests.post(extra["token_url"], verify=extra["ca_file"], timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": extra["refresh_token"],
        "client_id": extra["client_id"], "client_secret": extra["client_secret"]})
    imap_authenticate(stack, "XOAUTH2", imap["login"], response.json()["access_token"]).logout()

    # Microsoft style: msal with the extras' authority.
    import msal

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    extra = json.loads(stack.connection_env("msal")["AIRFLOW_CONN_JICKET_SMTP"])["extra"]
    assert extra["tenant_id"] and extra["authority"].endswith("/" + extra["tenant_id"])
    app = msal.ConfidentialClientApplication(extra["client_id"], client_credential=extra["client_secret"],
                                             authority=extra["authority"], instance_discovery=False,
                                             verify=extra["ca_file"])
    token = app.acquire_token_for_client(scopes=[extra["scope"]])["access_token"]
    with smtp_session(stack) as smtp:
        assert smtp.auth("XOAUTH2", lambda challenge=None: sasl("XOAUTH2", HELPDESK, token))[0] == 235

    # A fixed access token.
    extra = json.loads(stack.connection_env("access_token")["AIRFLOW_CONN_JICKET_IMAP"])["extra"]
    imap_authenticate(stack, "OAUTHBEARER", HELPDESK, extra["access_token"]).logout()
    with pytest.raises(ValueError, match="flavour"):
        stack.connection_env("kerberos")


def test_oauth_without_only_keeps_passwords(tmp_path):
    with SandboxStack(tmp_path, jira=False, oauth=True, token_lifetime=60) as mixed:
        with mixed.imap(HELPDESK) as client:  # a password login, as without OAuth
            assert client.user == HELPDESK
        token = refresh(mixed, mixed.refresh_tokens[HELPDESK]).json()
        assert token["expires_in"] == 60
        imap_authenticate(mixed, "XOAUTH2", HELPDESK, token["access_token"]).logout()
        with smtp_session(mixed) as smtp:
            assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"}
            smtp.login(HELPDESK, mixed.users[HELPDESK])


def test_default_configuration_has_no_oauth(tmp_path):
    dovecot = DovecotServer(tmp_path / "dovecot", {HELPDESK: "pw"})
    config = dovecot._config()
    assert "auth_mechanisms = plain login\n" in config
    assert "driver = oauth2" not in config and "master = yes" not in config and "deny = yes" not in config
    assert "allow_all_users" not in config
    relay = SmtpRelay("127.0.0.1", 1, {HELPDESK: "pw"}, dovecot.tls.cert, dovecot.tls.key)
    with relay, smtplib.SMTP("127.0.0.1", relay.port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=str(dovecot.tls.ca)))
        smtp.ehlo()
        assert set(smtp.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
