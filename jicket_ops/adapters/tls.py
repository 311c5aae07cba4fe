"""TLS settings shared by the IMAP, SMTP and Jira adapters (connection extras)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

from jicket_ops.errors import TlsModeError


def truthy(value: object, default: bool) -> bool:
    """Read a boolean connection extra; unlike the provider hooks, the string "false" is false."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def ssl_context(extra: dict) -> ssl.SSLContext:
    """Verifying context; ``ca_file`` adds a private CA; ``ssl_context: none`` is the explicit opt-out."""
    if str(extra.get("ssl_context", "default")).lower() == "none":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=extra.get("ca_file") or None)


# -- which TLS mode, and failing fast when the server speaks the other one --------------------------------------

GREETING_TIMEOUT = 5.0  # seconds for connect + TLS handshake + greeting; commands keep the longer ``timeout``
PROBE_TIMEOUT = 2.0  # seconds for the diagnostic second connection after a failed first one
TLS_MODES = ("ssl", "starttls", "none")
# OpenSSL's reasons when the peer's first bytes are not a TLS record (a plaintext greeting, say).
_NOT_TLS_REASONS = ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST",
                    "UNKNOWN_PROTOCOL", "RECORD_TOO_LARGE")


def greeting_timeout(extra: dict) -> float:
    """Seconds allowed for connect, TLS handshake and the server's greeting (extra ``connect_timeout``)."""
    return float(extra.get("connect_timeout") or GREETING_TIMEOUT)


def imap_tls_mode(port: int | None, extra: dict) -> str:
    """IMAP TLS mode: extra ``tls``, else ``use_ssl``, else implicit TLS unless the port is 143.

    jicket 0.6.2 used IMAP4_SSL whatever the port, so only the IMAP plaintext port means STARTTLS.
    """
    tls = str(extra.get("tls") or "").strip().lower()
    if not tls:
        tls = "ssl" if truthy(extra.get("use_ssl"), default=(port or 993) != 143) else "starttls"
    return tls


def smtp_tls_mode(port: int | None, extra: dict) -> str:
    """SMTP TLS mode: extra ``tls``, else the provider's ``disable_ssl``/``disable_tls``, else 465 = ssl.

    The provider reads both flags as true by default (implicit TLS *and* STARTTLS); Jicket takes implicit TLS
    when ``disable_ssl`` is false, STARTTLS when only ``disable_tls`` is false, and the port when neither is set.
    """
    tls = str(extra.get("tls") or "").strip().lower()
    if tls:
        return tls
    if "disable_ssl" in extra or "disable_tls" in extra:
        if not truthy(extra.get("disable_ssl"), default=False):
            return "ssl"
        return "starttls" if not truthy(extra.get("disable_tls"), default=False) else "none"
    return "ssl" if port == 465 else "starttls"


def is_not_tls(exc: BaseException) -> bool:
    """Whether an SSL error says the peer did not answer with TLS at all (not a certificate problem)."""
    if not isinstance(exc, ssl.SSLError) or isinstance(exc, ssl.SSLCertVerificationError):
        return False
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper().replace(" ", "_")
    return any(reason in text for reason in _NOT_TLS_REASONS)


def first_bytes(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bytes | None:
    """What a server sends on its own right after a plain TCP connect (b"" if nothing); None if unreachable."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            try:
                return sock.recv(200)
            except TimeoutError:
                return b""
    except OSError:
        return None


def speaks_implicit_tls(host: str, port: int, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TLS handshake succeeds on the port (certificate not checked: this only tells the mode)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                return True
    except (OSError, ssl.SSLError):
        return False


@dataclass(frozen=True)
class TlsSetting:
    """How an operator sets the TLS mode of one protocol: the 0.6.2 variable and the connection extra."""

    protocol: str  # "IMAP" | "SMTP"
    variable: str  # JICKET_IMAP_TLS | JICKET_SMTP_TLS
    implicit_port: int  # 993 | 465
    plain_port: int  # 143 | 587

    def fix(self, mode: str) -> str:
        return f'set {self.variable}={mode} (or the connection extra {{"tls": "{mode}"}})'


IMAP_TLS = TlsSetting("IMAP", "JICKET_IMAP_TLS", 993, 143)
SMTP_TLS = TlsSetting("SMTP", "JICKET_SMTP_TLS", 465, 587)


def diagnose_tls_mode(setting: TlsSetting, conn_id: str, host: str, port: int, mode: str,
                      cause: BaseException) -> TlsModeError | None:
    """After a failed connect: a TlsModeError when a second look shows the server speaks the other mode.

    ``mode`` is what was tried. Implicit TLS that met a plaintext greeting, or a plaintext client that got no
    greeting while the port completes a TLS handshake, is a setting to change, not a failure to retry; anything
    else (unreachable, a slow server) returns None and the caller raises its usual, retriable error.
    """
    if isinstance(cause, ssl.SSLCertVerificationError):
        return None  # TLS was spoken: the certificate is the problem, and its own message says so
    if isinstance(cause, (ConnectionRefusedError, socket.gaierror)):
        return None  # nothing listens there, or no such host: not a question of the TLS mode
    where = f"connection {conn_id}: {setting.protocol} server {host}:{port}"
    if mode == "ssl":
        seen = first_bytes(host, port)
        if seen or is_not_tls(cause):
            shown = f" (it sent {seen[:60]!r})" if seen else ""
            return TlsModeError(setting.variable, (
                f"{where} answered in plaintext, not with implicit TLS{shown}: this port expects STARTTLS or "
                f"no TLS. Fix: {setting.fix('starttls')}, or use the server's implicit-TLS port "
                f"({setting.implicit_port})"))
        return None
    if speaks_implicit_tls(host, port):  # no plaintext greeting came (timeout, or TLS bytes)
        return TlsModeError(setting.variable, (
            f"{where} sent no plaintext greeting but completes a TLS handshake: this port speaks implicit "
            f"TLS. Fix: {setting.fix('ssl')}, or use the server's plaintext port ({setting.plain_port})"))
    return None
