"""adapters.oauth and adapters.tls without servers: which TLS mode a connection means, SASL strings, and when a
TokenSource fetches, reuses and renews a token (a scripted token endpoint and clock; the real
authorization server is in tests/integration/test_oauth.py)."""

from __future__ import annotations

import base64

import pytest

from jicket_ops.adapters.oauth import TokenSource, mechanism, oauthbearer, xoauth2
from jicket_ops.adapters.tls import imap_tls_mode, smtp_tls_mode
from jicket_ops.errors import OAuthError


@pytest.mark.parametrize(("port", "extra", "mode"), [
    (993, {}, "ssl"), (10993, {}, "ssl"), (None, {}, "ssl"), (143, {}, "starttls"),
    (143, {"tls": "ssl"}, "ssl"), (993, {"tls": "none"}, "none"), (10993, {"use_ssl": False}, "starttls"),
])
def test_imap_mode_is_implicit_tls_unless_port_143(port, extra, mode):
    assert imap_tls_mode(port, extra) == mode


@pytest.mark.parametrize(("port", "extra", "mode"), [
    (465, {}, "ssl"), (587, {}, "starttls"), (2525, {}, "starttls"),
    (587, {"disable_ssl": True}, "starttls"), (465, {"disable_tls": True}, "ssl"),
    (25, {"disable_ssl": True, "disable_tls": True}, "none"), (587, {"tls": "ssl"}, "ssl"),
])
def test_smtp_mode_follows_the_provider_flags_then_the_port(port, extra, mode):
    assert smtp_tls_mode(port, extra) == mode


def test_sasl_initial_responses():
    assert xoauth2("a@example.com", "T") == "user=a@example.com\x01auth=Bearer T\x01\x01"
    bearer = oauthbearer("a,b=c@example.com", "T", "imap.example.com", 993)
    assert bearer == "n,a=a=2Cb=3Dc@example.com,\x01host=imap.example.com\x01port=993\x01auth=Bearer T\x01\x01"
    assert base64.b64encode(bearer.encode())  # ASCII only: SASL sends it base64-encoded
    assert mechanism("c", {}) == "XOAUTH2" and mechanism("c", {"oauth_mechanism": "oauthbearer"}) == "OAUTHBEARER"
    with pytest.raises(OAuthError, match="connection c"):
        mechanism("c", {"oauth_mechanism": "PLAIN"})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refresh_source(answers: list[dict], clock: Clock) -> TokenSource:
    source = TokenSource("jicket_imap", {"auth_type": "oauth2", "token_url": "https://idp.example/token",
                                         "client_id": "id", "client_secret": "s", "refresh_token": "r"},
                         "helpdesk@example.com", clock=clock)
    source._fetch_refresh = lambda: answers.pop(0)  # the endpoint's answers, in order
    return source


def test_token_is_reused_until_shortly_before_expiry_then_renewed():
    clock = Clock()
    source = refresh_source([{"access_token": "A", "expires_in": 3600}, {"access_token": "B", "expires_in": 3600}],
                            clock)
    assert source.token() == "A" and source.token() == "A" and source.fetched == 1
    clock.now += 3600 - 61
    assert source.token() == "A"
    clock.now += 2  # inside the 60 s margin
    assert source.token() == "B" and source.fetched == 2


def test_short_lived_tokens_renew_at_half_their_lifetime_and_on_demand():
    clock = Clock()
    source = refresh_source([{"access_token": f"T{n}", "expires_in": 20} for n in range(3)], clock)
    assert source.token() == "T0"
    clock.now += 9
    assert source.token() == "T0"
    clock.now += 2
    assert source.token() == "T1"
    assert source.token(renew=True) == "T2" and source.fetched == 3


def test_endpoint_error_names_connection_and_error():
    source = refresh_source([{"error": "invalid_client", "error_description": "bad secret"}], Clock())
    with pytest.raises(OAuthError) as info:
        source.token()
    message = str(info.value)
    assert "connection jicket_imap" in message and "invalid_client: bad secret" in message
    assert "https://idp.example/token" in message


@pytest.mark.parametrize(("extra", "needs"), [
    ({}, "access_token"), ({"client_id": "i", "client_secret": "s"}, "tenant_id"),
    ({"client_id": "i", "client_secret": "s", "token_url": "https://x"}, "refresh_token"),
])
def test_incomplete_oauth_extras_are_named(extra, needs):
    with pytest.raises(OAuthError, match=needs):
        TokenSource("jicket_smtp", {"auth_type": "oauth2", **extra})


def test_fixed_token_cannot_be_renewed():
    source = TokenSource("jicket_smtp", {"auth_type": "oauth2", "access_token": "F"})
    assert source.token() == "F" and source.kind == "fixed"
    with pytest.raises(OAuthError, match="cannot be renewed"):
        source.token(renew=True)
