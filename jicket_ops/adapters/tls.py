"""TLS settings shared by the IMAP, SMTP and Jira adapters (connection extras)."""

from __future__ import annotations

import ssl


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
