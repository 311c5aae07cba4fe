"""SASL XOAUTH2 and OAUTHBEARER (RFC 7628) for the sandbox's SMTP relay, checked by RFC 7662 introspection.

aiosmtpd offers every ``auth_<NAME>`` method of its handler as an AUTH mechanism; :class:`OAuthAuthMixin`
adds the two OAuth ones to the relay's handler. A bearer token is accepted when the authorization server
answers ``"active": true`` for it and the ``username`` it acts for is the user named in the SASL message
(for OAUTHBEARER the ``a=`` authorization identity may be left out: the token's user is taken).

A refused token gets the servers' usual error exchange: a ``334`` challenge carrying a JSON error
(``{"status": "401", "schemes": "bearer"}`` for XOAUTH2 as Google sends it, ``{"status": "invalid_token"}``
for OAUTHBEARER per RFC 7628 3.2.2), the client's dummy answer, then ``535 5.7.8``. An unreachable
authorization server is a temporary failure (``454 4.7.0``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

__all__ = ["RelayOAuth", "OAuthIdentity", "OAuthAuthMixin", "IntrospectionError", "parse_xoauth2",
           "parse_oauthbearer"]

_REFUSED = "535 5.7.8 Authentication credentials invalid"
_TEMPORARY = "454 4.7.0 Temporary authentication failure"


class IntrospectionError(RuntimeError):
    """The authorization server could not be asked (down, TLS failure, non-JSON answer)."""


@dataclass(frozen=True)
class RelayOAuth:
    """Where the relay checks bearer tokens, and whether passwords are refused (``only``)."""

    introspection_url: str
    client_id: str  # the relay's own client at the authorization server (HTTP Basic on introspection)
    client_secret: str
    ca_file: Path | str | None = None  # trust anchor for an https:// introspection URL
    only: bool = False  # OAuth-only: AUTH PLAIN and LOGIN are not offered
    timeout: float = 10.0

    def introspect(self, token: str) -> dict[str, Any]:
        """The authorization server's RFC 7662 answer for TOKEN (blocking)."""
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        credentials = base64.b64encode(
            f"{urllib.parse.quote(self.client_id)}:{urllib.parse.quote(self.client_secret)}".encode()).decode()
        request = urllib.request.Request(
            self.introspection_url, data=urllib.parse.urlencode({"token": token}).encode(), method="POST",
            headers={"Authorization": f"Basic {credentials}", "Accept": "application/json",
                     "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=context) as response:
                body = json.loads(response.read())
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors; ValueError: bad JSON
            raise IntrospectionError(f"introspection at {self.introspection_url} failed: {e!r}") from e
        if not isinstance(body, dict):
            raise IntrospectionError(f"introspection answered {body!r}, not a JSON object")
        return body


@dataclass(frozen=True)
class OAuthIdentity:
    """``session.auth_data`` after an OAuth login (``login`` as aiosmtpd's LoginPassword has it)."""

    login: bytes  # the mailbox the token acts for
    mechanism: str
    client_id: str | None  # the OAuth client the token was issued to


def parse_xoauth2(blob: bytes) -> tuple[str, str] | None:
    """(user, token) from ``user=U^Aauth=Bearer T^A^A``, or None when malformed."""
    fields = _kv_fields(blob.decode("utf-8", errors="replace").split("\x01"))
    user, auth = fields.get("user"), fields.get("auth", "")
    scheme, _, token = auth.partition(" ")
    if not user or scheme.lower() != "bearer" or not token:
        return None
    return user, token


def parse_oauthbearer(blob: bytes) -> tuple[str | None, str] | None:
    """(authorization identity or None, token) from RFC 7628's ``n,a=U,^Aauth=Bearer T^A^A``."""
    text = blob.decode("utf-8", errors="replace")
    gs2, sep, rest = text.partition("\x01")
    parts = gs2.split(",")
    if not sep or len(parts) < 3 or parts[0] not in ("n", "y"):  # "p=" (channel binding) is not offered
        return None
    authzid = None
    if parts[1].startswith("a="):
        # RFC 5801: "=2C" and "=3D" escape "," and "=" in the authzid.
        authzid = parts[1][2:].replace("=2C", ",").replace("=3D", "=")
    elif parts[1]:
        return None
    auth = _kv_fields(rest.split("\x01")).get("auth", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return authzid, token


def _kv_fields(items: list[str]) -> dict[str, str]:
    fields = {}
    for item in items:
        key, eq, value = item.partition("=")
        if eq:
            fields[key] = value
    return fields


class OAuthAuthMixin:
    """``auth_XOAUTH2`` and ``auth_OAUTHBEARER`` for a relay handler with ``self.relay.oauth`` set."""

    relay: Any  # the SmtpRelay (its ``oauth``, ``auth_failures``, ``oauth_logins``, ``oauth_errors``)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        parsed = parse_xoauth2(blob)
        if parsed is None:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed XOAUTH2 message")
        user, token = parsed
        return await self._check(server, "XOAUTH2", user, token,
                                 {"status": "401", "schemes": "bearer", "scope": "mail"})

    async def auth_OAUTHBEARER(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = await _initial_response(server, args)
        if blob is None:
            return AuthResult(success=False, handled=True)
        parsed = parse_oauthbearer(blob)
        if parsed is None:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Malformed OAUTHBEARER message")
        user, token = parsed
        return await self._check(server, "OAUTHBEARER", user, token,
                                 {"status": "invalid_token", "schemes": "bearer", "scope": "mail"})

    async def _check(self, server: SMTP, mechanism: str, user: str | None, token: str,
                     error: dict[str, str]) -> AuthResult:
        oauth: RelayOAuth = self.relay.oauth
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(None, oauth.introspect, token)
        except IntrospectionError as e:
            self.relay.oauth_errors.append(str(e))
            return AuthResult(success=False, handled=False, message=_TEMPORARY)
        username = answer.get("username")
        active = answer.get("active") is True and isinstance(username, str) and bool(username)
        if active and (user is None or user.lower() == username.lower()):
            self.relay.oauth_logins.append((mechanism, username.lower()))
            return AuthResult(success=True, auth_data=OAuthIdentity(username.lower().encode(), mechanism,
                                                                    answer.get("client_id")))
        self.relay.auth_failures.append((user or username or "?").lower())
        # The error travels in a challenge; the client answers it with a dummy line, then gets 535.
        if await server.challenge_auth(json.dumps(error)) is MISSING:
            return AuthResult(success=False, handled=True)  # the client aborted ("*"): 501 already sent
        return AuthResult(success=False, handled=False, message=_REFUSED)


async def _initial_response(server: SMTP, args: list[str]) -> bytes | None:
    """The SASL initial response: on the AUTH line, or asked for with an empty challenge.
    None when the client aborted or sent bad base64 (the error reply has been sent)."""
    if len(args) == 1:
        blob = await server.challenge_auth("")
        return None if blob is MISSING else blob
    try:
        return base64.b64decode(args[1], validate=True)
    except (binascii.Error, ValueError):
        await server.push("501 5.5.2 Can't decode base64")
        return None
