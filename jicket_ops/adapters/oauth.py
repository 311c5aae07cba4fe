"""OAuth 2.0 access tokens for IMAP and SMTP logins (SASL XOAUTH2 / OAUTHBEARER).

Exchange Online and Google Workspace accept only OAuth 2.0 over IMAP and SMTP. A connection opts in with the
SMTP provider's extras: ``auth_type: "oauth2"`` and one of

* ``access_token``: a fixed token (it cannot be renewed; for short jobs and tests);
* ``client_id`` + ``client_secret`` + ``tenant_id``: Microsoft's app-only client credentials through ``msal``
  (scope ``https://outlook.office365.com/.default``; ``authority`` overrides the Entra ID authority URL);
* ``token_url`` + ``client_id`` + ``client_secret`` + ``refresh_token``: the refresh-token grant of Google and
  any other RFC 6749 server (optional ``scope``).

``oauth_mechanism`` chooses the SASL mechanism (``XOAUTH2``, the default, or ``OAUTHBEARER``). A
:class:`TokenSource` is shared by everything in one process that logs in with the same connection, fetches a
token once and renews it shortly before it expires, so a task logs in with one token and the IDLE trigger,
which reconnects over hours, always presents a live one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from jicket_ops.errors import OAuthError, OAuthUnavailableError

MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
MICROSOFT_AUTHORITY = "https://login.microsoftonline.com/{tenant}"
RENEW_MARGIN = 60.0  # seconds before expiry a token is renewed (at most half its lifetime)
MECHANISMS = ("XOAUTH2", "OAUTHBEARER")


def uses_oauth(extra: dict) -> bool:
    """Whether a connection logs in with OAuth 2.0 (extra ``auth_type: "oauth2"``, as the SMTP provider reads it)."""
    return str(extra.get("auth_type") or "").strip().lower() == "oauth2"


def mechanism(conn_id: str, extra: dict) -> str:
    """The SASL mechanism of an OAuth connection (extra ``oauth_mechanism``)."""
    name = str(extra.get("oauth_mechanism") or "XOAUTH2").strip().upper()
    if name not in MECHANISMS:
        raise OAuthError(f"connection {conn_id}", f"extra 'oauth_mechanism' must be XOAUTH2 or OAUTHBEARER, "
                                                  f"got {name!r}")
    return name


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (Google's and Microsoft's format)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str, host: str, port: int) -> str:
    """The SASL OAUTHBEARER initial response (RFC 7628), with the GS2 header naming the user."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={authzid},\x01host={host}\x01port={port}\x01auth=Bearer {token}\x01\x01"


def sasl_response(mech: str, user: str, token: str, host: str, port: int) -> str:
    """The initial response of ``mech`` (one of :data:`MECHANISMS`)."""
    return oauthbearer(user, token, host, port) if mech == "OAUTHBEARER" else xoauth2(user, token)


class TokenSource:
    """The access tokens of one OAuth connection: fetched when first needed, renewed before they expire.

    ``token()`` answers from memory while the token has more than ``RENEW_MARGIN`` (at most half its lifetime)
    left; ``token(renew=True)`` fetches a new one, for a login the server refused. ``fetched`` counts the tokens
    obtained. Thread-safe: the threads of a task share one source.
    """

    def __init__(self, conn_id: str, extra: dict, login: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conn_id = conn_id
        self.login = login
        self.extra = dict(extra)
        self.clock = clock
        self.fetched = 0
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: float | None = None  # None: never expires as far as Jicket knows (a fixed token)
        self._refresh_token = self.extra.get("refresh_token")
        self.kind = self._kind()

    def _problem(self, problem: str) -> OAuthError:
        return OAuthError(f"connection {self.conn_id}", problem)

    def _kind(self) -> str:
        extra = self.extra
        if extra.get("access_token"):
            return "fixed"
        if not (extra.get("client_id") and extra.get("client_secret")):
            raise self._problem("auth_type 'oauth2' needs the extra 'access_token', or 'client_id' and "
                                "'client_secret' with 'tenant_id' (Microsoft) or with 'token_url' and "
                                "'refresh_token' (Google and others)")
        if extra.get("token_url"):
            if not self._refresh_token:
                raise self._problem("extra 'token_url' is set but 'refresh_token' is missing")
            return "refresh"
        if extra.get("tenant_id") or extra.get("authority"):
            return "microsoft"
        raise self._problem("client credentials need 'tenant_id' (Microsoft Entra ID) or 'token_url' and "
                            "'refresh_token' (Google and others)")

    @property
    def endpoint(self) -> str:
        """Where tokens come from, for messages."""
        if self.kind == "refresh":
            return str(self.extra["token_url"])
        if self.kind == "microsoft":
            return self._authority()
        return "the connection's fixed access_token"

    def _authority(self) -> str:
        return str(self.extra.get("authority")
                   or MICROSOFT_AUTHORITY.format(tenant=self.extra.get("tenant_id") or "common"))

    def token(self, renew: bool = False) -> str:
        """A live access token; ``renew``: a new one even if the current one has not expired."""
        with self._lock:
            if self._token and not renew and (self._renew_at is None or self.clock() < self._renew_at):
                return self._token
            if self.kind == "fixed":
                if renew:
                    raise self._problem("the server refused the fixed 'access_token' and it cannot be renewed; "
                                        "give client credentials or a refresh token instead")
                self._token = str(self.extra["access_token"])
                return self._token
            answer = self._fetch_microsoft() if self.kind == "microsoft" else self._fetch_refresh()
            token = answer.get("access_token")
            if not token:
                error = answer.get("error") or "no access_token in the answer"
                raise self._problem(f"token endpoint {self.endpoint} refused: {error}: "
                                    f"{answer.get('error_description') or ''}".rstrip(": "))
            lifetime = float(answer.get("expires_in") or 3600)
            self._token = str(token)
            self._renew_at = self.clock() + lifetime - min(RENEW_MARGIN, lifetime / 2)
            if answer.get("refresh_token"):
                self._refresh_token = answer["refresh_token"]  # a server that rotates refresh tokens
            self.fetched += 1
            return self._token

    def refused(self, server: str, detail: str) -> OAuthError:
        """The error for a login the mail server refused with a fresh token."""
        return self._problem(f"the {server} refused the OAuth 2.0 token from {self.endpoint} for user "
                             f"{self.login or '?'}: {detail}. Check the mailbox permission of the "
                             f"app (Exchange: Add-MailboxPermission; Google: the scope https://mail.google.com/)")

    def _verify(self) -> Any:
        return self.extra.get("ca_file") or True

    def _fetch_microsoft(self) -> dict:
        import msal
        import requests

        custom = bool(self.extra.get("authority"))
        try:
            # A new application each time: msal's own cache would hand back the token just refused.
            session = requests.Session()
            session.verify = self._verify()  # the connection's ca_file, for a private authority
            if self.extra.get("ca_file"):
                # msal passes no verify per request, and requests then prefers REQUESTS_CA_BUNDLE to session.verify
                session.trust_env = False
            app = msal.ConfidentialClientApplication(
                client_id=str(self.extra["client_id"]), client_credential=str(self.extra["client_secret"]),
                authority=self._authority(), http_client=session, timeout=30,
                instance_discovery=False if custom else None)
            return app.acquire_token_for_client(scopes=[str(self.extra.get("scope") or MICROSOFT_SCOPE)])
        except (requests.RequestException, OSError) as exc:
            raise OAuthUnavailableError(f"connection {self.conn_id}: token endpoint {self.endpoint} unreachable: "
                                        f"{exc}") from exc
        except ValueError as exc:  # msal: authority discovery failed (wrong tenant or authority)
            raise self._problem(f"authority {self.endpoint} unusable: {exc}") from exc

    def _fetch_refresh(self) -> dict:
        import requests

        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token,
                "client_id": self.extra["client_id"], "client_secret": self.extra["client_secret"]}
        if self.extra.get("scope"):
            form["scope"] = self.extra["scope"]
        try:
            response = requests.post(self.endpoint, data=form, timeout=30, verify=self._verify(),
                                     headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise OAuthUnavailableError(f"connection {self.conn_id}: token endpoint {self.endpoint} unreachable: "
                                        f"{exc}") from exc
        if response.status_code >= 500:
            raise OAuthUnavailableError(f"connection {self.conn_id}: token endpoint {self.endpoint} failed: "
                                        f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": f"HTTP {response.status_code}", "error_description": response.text[:200]}
        return answer if isinstance(answer, dict) else {"error": "unexpected answer"}


_SOURCES: dict[str, TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def token_source(conn_id: str, extra: dict, login: str | None = None) -> TokenSource:
    """The process's TokenSource for this connection (a changed connection gets a new one)."""
    key = json.dumps([conn_id, login, extra], sort_keys=True, default=str)
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = TokenSource(conn_id, extra, login)
        return source


def forget_tokens() -> None:
    """Drop every TokenSource of this process, so the next login fetches a new token (as a new worker would)."""
    with _SOURCES_LOCK:
        _SOURCES.clear()
