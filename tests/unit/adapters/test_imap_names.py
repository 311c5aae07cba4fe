"""Folder names in modified UTF-7 (RFC 3501 5.1.3)."""

from __future__ import annotations

import pytest

from jicket_ops.adapters.imap_names import modified_utf7, quote


@pytest.mark.parametrize(("name", "encoded"), [
    ("INBOX", "INBOX"),
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501's own example
    ("Tom & Jerry", "Tom &- Jerry"),
    ("Erledigt/Bestätigt", "Erledigt/Best&AOQ-tigt"),
])
def test_modified_utf7(name, encoded):
    assert modified_utf7(name) == encoded


def test_quote_escapes_quotes_and_backslashes():
    assert quote('a "b" \\c') == '"a \\"b\\" \\\\c"'
