"""A real OAuth 2.0 authorization server for tests: authlib's grant and endpoint logic behind a small HTTPS server.

Exchange Online and Google Workspace accept only OAuth 2.0 for IMAP and SMTP (SASL XOAUTH2 / OAUTHBEARER).
This server plays their identity provider on 127.0.0.1:

* ``client_credentials`` grant (RFC 6749 4.4), the Microsoft app-only flow: a client registered with a
  ``mailbox`` receives access tokens bound to that mailbox, as an Entra app granted access to one mailbox;
* ``refresh_token`` grant (RFC 6749 6), the Google flow: :meth:`OAuthServer.issue_refresh_token` stands
  for the user's one-time consent and returns a refresh token for that mailbox user;
* RFC 7662 token introspection for the mail servers (Dovecot's ``oauth2`` passdb, the SMTP relay): only
  clients registered with ``introspect=True`` may ask; the answer carries ``active``, ``username``,
  ``client_id``, ``scope``, ``exp``, ``iat``, ``token_type``;
* Microsoft-style authority discovery for ``msal``: ``https://127.0.0.1:PORT/<tenant>/v2.0/.well-known/
  openid-configuration`` names the token endpoint ``/<tenant>/oauth2/v2.0/token``; RFC 8414 metadata at
  ``/.well-known/oauth-authorization-server`` (and ``/.well-known/openid-configuration``) for generic clients.

Client authentication: ``client_secret_basic`` or ``client_secret_post``; a wrong secret or an unknown
client gets ``invalid_client`` in RFC 6749's error JSON (HTTP 401). Access tokens are opaque random
strings with a configurable lifetime (seconds; per client or server-wide), so a test can watch one
expire and be renewed. Counters (:attr:`OAuthServer.stats`) record tokens issued and introspections.

HTTPS uses the sandbox CA (``sandbox.tls``); an optional plain-HTTP listener serves the same endpoints
for resource servers that should not need the CA. Interactive consent (the authorization endpoint) is
out of scope: it is advertised because discovery documents must name it, and answers
``unsupported_response_type``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import UnsupportedResponseTypeError
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from sandbox.tls import TlsFiles, make_certificates

__all__ = ["OAuthServer", "OAuthClient", "TokenRecord", "DEFAULT_TENANT"]

DEFAULT_TENANT = "jicket-tenant"
# Both ways RFC 6749 2.3.1 defines for a client secret; msal and Google's libraries post it, others use Basic.
_SECRET_METHODS = ["client_secret_basic", "client_secret_post"]


# ---------------------------------------------------------------------------------------------- models
@dataclass
class OAuthClient(ClientMixin):
    """A registered client (an application, or a mail server that introspects tokens)."""

    client_id: str
    client_secret: str
    grant_types: tuple[str, ...] = ("client_credentials", "refresh_token")
    mailbox: str | None = None  # client_credentials tokens act for this mailbox (Microsoft app-only access)
    introspect: bool = False  # may call the introspection endpoint (a resource server)
    token_lifetime: int | None = None  # seconds; None: the server's lifetime
    default_scope: str = ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # no authorization-code flow here

    def get_allowed_scope(self, scope: str | None) -> str:
        # Every scope is granted: the mail servers here check the user a token acts for, not its scope.
        return scope if scope is not None else self.default_scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in _SECRET_METHODS  # a confidential client: never "none"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class TokenRecord(TokenMixin):
    """An issued access token, or a refresh token (``kind``), with the user it acts for."""

    token: str
    kind: str  # "access_token" | "refresh_token"
    client_id: str
    username: str | None
    scope: str
    issued_at: float
    expires_in: int | None  # None: does not expire (refresh tokens)
    grant_type: str = ""
    revoked: bool = False

    @property
    def expires_at(self) -> float | None:
        return None if self.expires_in is None else self.issued_at + self.expires_in

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in or 0

    def is_expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str | None:
        return self.username

    def get_client(self) -> None:  # not needed by the grants used here
        return None


@dataclass
class OAuthStats:
    """What the server did since it started (or since :meth:`OAuthServer.reset_stats`)."""

    tokens_issued: Counter = field(default_factory=Counter)  # access tokens per grant type
    token_errors: Counter = field(default_factory=Counter)  # token endpoint errors per OAuth error code
    introspections: int = 0  # introspection requests answered
    introspections_active: int = 0  # ... of which answered "active": true
    introspected_by: Counter = field(default_factory=Counter)  # introspection requests per client id
    discovery_requests: int = 0  # OIDC / RFC 8414 metadata documents served

    @property
    def access_tokens(self) -> int:
        return sum(self.tokens_issued.values())


# ---------------------------------------------------------------------------------------------- authlib glue
class _Payload(OAuth2Payload):
    """Form parameters of one request (RFC 6749 requests are form-encoded; the query adds to them)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._datalist: dict[str, list[str]] = {}
        for key, value in pairs:
            self._datalist.setdefault(key, []).append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):
    """An authlib request built from what the HTTP handler read."""

    def __init__(self, method: str, uri: str, headers: Any, query: list[tuple[str, str]],
                 form: list[tuple[str, str]]):
        super().__init__(method, uri, headers=headers)
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _SECRET_METHODS


class _RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = _SECRET_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = False  # Google keeps the refresh token; the client reuses it

    def authenticate_refresh_token(self, refresh_token: str) -> TokenRecord | None:
        record = self.server.owner._lookup(refresh_token)
        if record is not None and record.kind == "refresh_token" and not record.is_revoked():
            return record
        return None

    def authenticate_user(self, refresh_token: TokenRecord) -> str | None:
        return refresh_token.username

    def revoke_old_credential(self, refresh_token: TokenRecord) -> None:
        pass  # not rotated (see INCLUDE_NEW_REFRESH_TOKEN)


class _Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = _SECRET_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenRecord | None:
        return self.server.owner._lookup(token_string)

    def check_permission(self, token: TokenRecord, client: OAuthClient, request: OAuth2Request) -> bool:
        return client.introspect

    def introspect_token(self, token: TokenRecord) -> dict[str, Any]:
        owner = self.server.owner
        body: dict[str, Any] = {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "iat": int(token.issued_at),
            "iss": owner.issuer,
        }
        if token.kind == "access_token":
            body["token_type"] = "Bearer"
        if token.expires_at is not None:
            body["exp"] = int(token.expires_at)
        if token.username:
            body["username"] = token.username
            body["sub"] = token.username
        return body

    def create_endpoint_response(self, request: OAuth2Request) -> tuple[int, Any, list]:
        status, body, headers = super().create_endpoint_response(request)
        owner = self.server.owner
        with owner._lock:
            owner.stats.introspections += 1
            owner.stats.introspected_by[request.client.client_id] += 1
            if body.get("active"):
                owner.stats.introspections_active += 1
        return status, body, headers


class _AuthlibServer(AuthorizationServer):
    """authlib's framework-independent server, bound to the OAuthServer that keeps clients and tokens."""

    def __init__(self, owner: OAuthServer):
        super().__init__()
        self.owner = owner
        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: owner.lifetime_for(client)))
        self.register_grant(_ClientCredentialsGrant)
        self.register_grant(_RefreshTokenGrant)
        self.register_endpoint(_Introspection)

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self.owner.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        client: OAuthClient = request.client
        grant_type = request.payload.grant_type
        # A refresh grant acts for the user who consented; client credentials for the client's mailbox.
        username = request.user if grant_type == "refresh_token" else client.mailbox
        self.owner._store(TokenRecord(
            token=token["access_token"], kind="access_token", client_id=client.client_id, username=username,
            scope=token.get("scope", ""), issued_at=time.time(), expires_in=token.get("expires_in"),
            grant_type=grant_type))

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # the HTTP handler builds it already

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON endpoints here")

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> tuple[int, Any, list]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # authlib's hook for framework signals: nothing listens here


# ---------------------------------------------------------------------------------------------- HTTP
class _Handler(BaseHTTPRequestHandler):
    server_version = "JicketOAuthSandbox/1"
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive sockets at stop()
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        self.server.owner._log(f"{self.client_address[0]} {format % args}")

    def _send(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        sent = set()
        for name, value in headers or []:
            if name.lower() != "content-length":
                self.send_header(name, value)
                sent.add(name.lower())
        if "content-type" not in sent:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _request(self) -> _Request:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True) \
            if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or "") else []
        scheme = "https" if self.server.tls else "http"
        host, port = self.server.server_address[:2]
        query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        return _Request(self.command, f"{scheme}://{host}:{port}{self.path}", self.headers, query, form)

    def do_GET(self) -> None:
        owner: OAuthServer = self.server.owner
        path = urlsplit(self.path).path
        document = owner._metadata_for(path)
        if document is not None:
            with owner._lock:
                owner.stats.discovery_requests += 1
            self._send(200, document, [("Cache-Control", "no-store")])
        elif path in owner._authorize_paths():
            self._authorize_refused()
        else:
            self._send(404, {"error": "not_found", "error_description": f"nothing at {path}"})

    def do_POST(self) -> None:
        owner: OAuthServer = self.server.owner
        path = urlsplit(self.path).path
        if path in owner._token_paths():
            status, body, headers = owner._authlib.create_token_response(self._request())
            if status == 200:
                grant_type = self._grant_type_of(body)
                with owner._lock:
                    owner.stats.tokens_issued[grant_type] += 1
            else:
                with owner._lock:
                    owner.stats.token_errors[body.get("error", "?")] += 1
            self._send(status, body, headers)
        elif path == owner.INTROSPECT_PATH:
            status, body, headers = owner._authlib.create_endpoint_response("introspection", self._request())
            self._send(status, body, headers)
        elif path in owner._authorize_paths():
            self._authorize_refused()
        else:
            self._send(404, {"error": "not_found", "error_description": f"nothing at {path}"})

    def _grant_type_of(self, body: dict[str, Any]) -> str:
        record = self.server.owner._lookup(body.get("access_token", ""))
        return record.grant_type if record is not None else "?"

    def _authorize_refused(self) -> None:
        status, body, headers = UnsupportedResponseTypeError(
            "interactive consent is not served by the sandbox: use OAuthServer.issue_refresh_token()")()
        self._send(status, body, headers)


class _HttpServer(ThreadingHTTPServer):
    """One listener (HTTPS when ``tls`` is set); the TLS handshake runs in the request's own thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: OAuthServer, host: str, port: int, tls: ssl.SSLContext | None):
        self.owner = owner
        self.tls = tls
        super().__init__((host, port), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as e:  # e.g. a client that does not trust the CA
                self.owner._log(f"{client_address[0]} TLS handshake failed: {e}")
                return
        super().finish_request(request, client_address)


# ---------------------------------------------------------------------------------------------- the server
class OAuthServer:
    """``with OAuthServer(tls) as idp: idp.add_client("app", "secret", mailbox="a@example.test")``.

    ``token_url`` (generic, Google-style), ``authority`` (msal, with ``instance_discovery=False``),
    ``introspection_url`` (HTTPS) and ``http_introspection_url`` (plain, when ``plain_http``).
    """

    TOKEN_PATH = "/oauth2/token"
    INTROSPECT_PATH = "/oauth2/introspect"
    AUTHORIZE_PATH = "/oauth2/authorize"

    def __init__(self, tls: TlsFiles | None = None, *, base_dir: Path | str | None = None, host: str = "127.0.0.1",
                 token_lifetime: int = 3600, tenant: str = DEFAULT_TENANT, plain_http: bool = False):
        if tls is None:
            if base_dir is None:
                raise ValueError("give tls (the sandbox certificates) or base_dir (to create them)")
            tls = make_certificates(Path(base_dir) / "tls")
        if token_lifetime < 1:
            raise ValueError("token_lifetime must be at least 1 second")
        if not tenant or "/" in tenant:
            raise ValueError(f"unusable tenant name: {tenant!r}")
        self.tls = tls
        self.host = host
        self.token_lifetime = token_lifetime
        self.tenant = tenant
        self.plain_http = plain_http
        self.clients: dict[str, OAuthClient] = {}
        self.stats = OAuthStats()
        self.log: list[str] = []  # one line per HTTP request (and TLS failures)
        self.port = self.http_port = 0
        self._tokens: dict[str, TokenRecord] = {}
        self._lock = threading.Lock()
        self._servers: list[tuple[_HttpServer, threading.Thread]] = []
        self._authlib = _AuthlibServer(self)

    # ------------------------------------------------------------------ URLs
    @property
    def url(self) -> str:
        """The HTTPS base URL (``https://127.0.0.1:PORT``)."""
        return f"https://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        if not self.http_port:
            raise RuntimeError("the plain-HTTP listener is off (plain_http=False) or not started")
        return f"http://{self.host}:{self.http_port}"

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def token_url(self) -> str:
        return self.url + self.TOKEN_PATH

    @property
    def authority(self) -> str:
        """What msal's ``authority=`` takes (``https://127.0.0.1:PORT/<tenant>``)."""
        return f"{self.url}/{self.tenant}"

    @property
    def msal_token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def introspection_url(self) -> str:
        return self.url + self.INTROSPECT_PATH

    @property
    def http_introspection_url(self) -> str:
        return self.http_url + self.INTROSPECT_PATH

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    def _token_paths(self) -> set[str]:
        return {self.TOKEN_PATH, f"/{self.tenant}/oauth2/v2.0/token"}

    def _authorize_paths(self) -> set[str]:
        return {self.AUTHORIZE_PATH, f"/{self.tenant}/oauth2/v2.0/authorize"}

    def _metadata_for(self, path: str) -> dict[str, Any] | None:
        """The discovery document served at PATH, if any."""
        common = {
            "grant_types_supported": ["client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": list(_SECRET_METHODS),
            "introspection_endpoint": self.introspection_url,
            "introspection_endpoint_auth_methods_supported": list(_SECRET_METHODS),
            "response_types_supported": ["code"],
        }
        if path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
            return {"issuer": self.issuer, "token_endpoint": self.token_url,
                    "authorization_endpoint": self.url + self.AUTHORIZE_PATH, **common}
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            # What msal reads for authority https://host:port/<tenant> (Entra's v2.0 layout).
            return {"issuer": f"{self.authority}/v2.0", "token_endpoint": self.msal_token_url,
                    "authorization_endpoint": f"{self.authority}/oauth2/v2.0/authorize",
                    "tenant_region_scope": None, **common}
        return None

    # ------------------------------------------------------------------ clients and tokens
    def add_client(self, client_id: str, client_secret: str | None = None, *, mailbox: str | None = None,
                   grant_types: tuple[str, ...] = ("client_credentials", "refresh_token"), introspect: bool = False,
                   token_lifetime: int | None = None, default_scope: str = "") -> OAuthClient:
        """Register (or replace) a confidential client; a secret is generated when none is given."""
        if not client_id or ":" in client_id:
            raise ValueError(f"unusable client id: {client_id!r}")
        if token_lifetime is not None and token_lifetime < 1:
            raise ValueError("token_lifetime must be at least 1 second")
        client = OAuthClient(client_id, client_secret or secrets.token_urlsafe(24), tuple(grant_types),
                             mailbox.lower() if mailbox else None, introspect, token_lifetime, default_scope)
        with self._lock:
            self.clients[client_id] = client
        return client

    def lifetime_for(self, client: OAuthClient) -> int:
        return client.token_lifetime if client.token_lifetime is not None else self.token_lifetime

    def issue_refresh_token(self, user: str, client_id: str, scope: str = "") -> str:
        """A refresh token of CLIENT_ID acting for USER, as the provider hands out after the user's consent."""
        if client_id not in self.clients:
            raise KeyError(f"unknown client {client_id!r}")
        token = secrets.token_urlsafe(32)
        self._store(TokenRecord(token=token, kind="refresh_token", client_id=client_id, username=user.lower(),
                                scope=scope, issued_at=time.time(), expires_in=None, grant_type="consent"))
        return token

    def issue_access_token(self, user: str, client_id: str, scope: str = "", lifetime: int | None = None) -> str:
        """An access token minted directly (no HTTP), e.g. a fixed ``access_token`` for a connection."""
        client = self.clients[client_id]
        token = secrets.token_urlsafe(32)
        self._store(TokenRecord(token=token, kind="access_token", client_id=client_id, username=user.lower(),
                                scope=scope, issued_at=time.time(),
                                expires_in=lifetime if lifetime is not None else self.lifetime_for(client),
                                grant_type="direct"))
        return token

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (introspection answers ``active: false`` from now on)."""
        with self._lock:
            self._tokens[token].revoked = True

    def token_info(self, token: str) -> TokenRecord | None:
        return self._lookup(token)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = OAuthStats()

    def _store(self, record: TokenRecord) -> None:
        with self._lock:
            self._tokens[record.token] = record

    def _lookup(self, token: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(token)

    def _log(self, line: str) -> None:
        with self._lock:
            self.log.append(line)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> OAuthServer:
        """Listen (HTTPS, and plain HTTP when asked) on free ports of the host; ready when this returns."""
        if self._servers:
            return self
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        listeners: list[_HttpServer] = []
        try:  # the sockets listen once bound: serving threads only pick up connections already queued
            listeners.append(_HttpServer(self, self.host, 0, context))
            if self.plain_http:
                listeners.append(_HttpServer(self, self.host, 0, None))
        except OSError:
            for server in listeners:
                server.server_close()
            raise
        for server in listeners:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                      name=f"oauth-{'https' if server.tls else 'http'}-{id(self):x}", daemon=True)
            thread.start()
            self._servers.append((server, thread))
        self.port = listeners[0].server_address[1]
        self.http_port = listeners[1].server_address[1] if self.plain_http else 0
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and wait for the serving threads (requests in flight finish on their own threads)."""
        servers, self._servers = self._servers, []
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> OAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"OAuthServer({self.url if self.port else 'not started'}, tenant={self.tenant!r})"
