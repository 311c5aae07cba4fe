"""Airflow Connections for IMAP, SMTP and Jira, with jicket 0.6.2's environment as a fallback.

When a connection id (``jicket_imap`` ...) is not defined anywhere Airflow looks (metadata DB,
``AIRFLOW_CONN_*``, a secrets backend) but the 0.6.2 variables are set (JICKET_IMAP_HOST ...),
the connection is defined for this task process's hooks from them (``adapters.defined_connections``;
nothing is written to the environment). TLS stays on unless a JICKET_*_TLS setting turns it off; IMAP speaks
implicit TLS on every port but 143, as 0.6.2 did.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from jicket_ops.domain.settings import Lookup
from jicket_ops.errors import ConfigError

ConnectionExists = Callable[[str], bool]


def _get(lookup: Lookup, name: str) -> str | None:
    value = lookup(name)
    return value.strip() if value is not None and value.strip() else None


def _need(lookup: Lookup, name: str, conn_id: str) -> str:
    value = _get(lookup, name)
    if value is None:
        raise ConfigError(
            name, f"is required because Airflow connection {conn_id!r} is not defined (define the connection, "
            "or set the JICKET_* variables of jicket 0.6.2)")
    return value


def _port(lookup: Lookup, name: str, default: int) -> int:
    raw = _get(lookup, name)
    if raw is None:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(name, f"must be a TCP port number, got {raw!r}")
    return int(raw)


def _choice(lookup: Lookup, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (_get(lookup, name) or default).lower()
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _tls_extra(lookup: Lookup) -> dict:
    extra: dict = {}
    ca_file = _get(lookup, "JICKET_CA_FILE")
    if ca_file:
        if not os.path.isfile(ca_file):
            raise ConfigError("JICKET_CA_FILE", f"CA file {ca_file} does not exist")
        extra["ca_file"] = ca_file
    return extra


def imap_connection(lookup: Lookup, conn_id: str) -> dict:
    port = _port(lookup, "JICKET_IMAP_PORT", 993)
    # jicket 0.6.2 spoke implicit TLS (IMAP4_SSL) on any port; only 143, IMAP's plaintext port, means STARTTLS.
    tls = _choice(lookup, "JICKET_IMAP_TLS", "starttls" if port == 143 else "ssl", ("ssl", "starttls", "none"))
    return {
        "conn_type": "imap", "host": _need(lookup, "JICKET_IMAP_HOST", conn_id), "port": port,
        "login": _need(lookup, "JICKET_IMAP_USER", conn_id), "password": _need(lookup, "JICKET_IMAP_PASS", conn_id),
        "extra": {"tls": tls, **_tls_extra(lookup)},
    }


def smtp_connection(lookup: Lookup, conn_id: str) -> dict:
    port = _port(lookup, "JICKET_SMTP_PORT", 587)
    tls = _choice(lookup, "JICKET_SMTP_TLS", "ssl" if port == 465 else "starttls", ("ssl", "starttls", "none"))
    # SMTP user and password default to IMAP's, as in 0.6.2.
    login = _get(lookup, "JICKET_SMTP_USER") or _need(lookup, "JICKET_IMAP_USER", conn_id)
    password = _get(lookup, "JICKET_SMTP_PASS") or _need(lookup, "JICKET_IMAP_PASS", conn_id)
    return {
        "conn_type": "smtp", "host": _need(lookup, "JICKET_SMTP_HOST", conn_id), "port": port,
        "login": login, "password": password,
        "extra": {"disable_ssl": tls != "ssl", "disable_tls": tls != "starttls", "timeout": 30,
                  **_tls_extra(lookup)},
    }


def jira_connection(lookup: Lookup, conn_id: str) -> dict:
    url = _need(lookup, "JICKET_JIRA_URL", conn_id)
    if "://" not in url:
        url = "https://" + url  # 0.6.2's manual gives bare host names (jira.example.com)
    verify_raw = (_get(lookup, "JICKET_JIRA_VERIFY") or "true")
    verify: bool | str
    if verify_raw.lower() in ("true", "1", "yes"):
        verify = _tls_extra(lookup).get("ca_file", True)
    elif verify_raw.lower() in ("false", "0", "no"):
        verify = False
    elif os.path.isfile(verify_raw):
        verify = verify_raw
    else:
        raise ConfigError("JICKET_JIRA_VERIFY", f"must be true, false or a CA bundle path, got {verify_raw!r}")
    extra: dict = {"verify": verify, "timeout": 30,
                   "cloud": _choice(lookup, "JICKET_JIRA_CLOUD", "false", ("true", "false")) == "true"}
    token = _get(lookup, "JICKET_JIRA_TOKEN")  # a Data Center personal access token, sent as a Bearer header
    if token:
        return {"conn_type": "jira", "host": url.rstrip("/"), "extra": {**extra, "token": token}}
    return {
        "conn_type": "jira", "host": url.rstrip("/"),
        "login": _need(lookup, "JICKET_JIRA_USER", conn_id), "password": _need(lookup, "JICKET_JIRA_PASS", conn_id),
        "extra": extra,
    }


BUILDERS = {"imap": imap_connection, "smtp": smtp_connection, "jira": jira_connection}


def ensure_connections(lookup: Lookup, conn_ids: dict[str, str], exists: ConnectionExists) -> list[str]:
    """Define each missing connection from the 0.6.2 variables for this process's hooks (nothing is written to
    the environment: ``adapters.defined_connections``); return the ids so defined."""
    from jicket_ops.adapters.defined_connections import define

    defined = []
    for kind, conn_id in conn_ids.items():
        if exists(conn_id):
            continue
        define(conn_id, BUILDERS[kind](lookup, conn_id))
        defined.append(conn_id)
    return defined
