"""Encrypted and signed mail (issue 14, item 3) through parse_mail, mail_content and issue_description.

The mails are built as S/MIME and PGP/MIME clients write them (RFC 8551, RFC 3156, inline PGP armour), with
deterministic pseudo-ciphertext: Jicket never decrypts or verifies, so only the structure matters. An encrypted
mail must say so (S/MIME or PGP), carry its original .eml and not upload the ciphertext parts; a signed mail
keeps its text, notes "signed (...) by <sender>, not verified" and does not upload the signature file.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

from jicket_ops.domain.content import ORIGINAL_NAME, mail_content
from jicket_ops.domain.parsing import parse_mail
from jicket_ops.domain.rendering import issue_description

SENDER = "Dana Crypt <dana@customer.example>"


def noise(seed: str, size: int) -> bytes:
    """Deterministic bytes standing in for ciphertext or a signature."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return out[:size]


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def mail(content_type: str, body: str, subject: str = "Contract draft") -> bytes:
    digest = hashlib.sha256(body.encode()).hexdigest()[:12]
    head = (f"From: {SENDER}\r\nTo: helpdesk@example.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 04 Mar 2024 09:15:00 +0100\r\nMessage-ID: <crypto-{digest}@customer.example>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n")
    return (head + body).replace("\r\n", "\n").replace("\n", "\r\n").encode()


CMS = noise("cms", 900)
PGP_ARMOUR = ("-----BEGIN PGP MESSAGE-----\n\nhQEMA" + base64.b64encode(noise("pgp", 300)).decode()[:300]
              + "\n=abcd\n-----END PGP MESSAGE-----\n")
SMIME_ENCRYPTED = mail('application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"',
                       'Content-Disposition: attachment; filename="smime.p7m"\nContent-Transfer-Encoding: base64\n\n'
                       + b64(CMS))
PGP_MIME_ENCRYPTED = mail('multipart/encrypted; protocol="application/pgp-encrypted"; boundary="ENC"',
                          "\nThis is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\n--ENC\n"
                          "Content-Type: application/pgp-encrypted\nContent-Description: PGP/MIME version "
                          "identification\n\nVersion: 1\n\n--ENC\nContent-Type: application/octet-stream; "
                          'name="encrypted.asc"\nContent-Disposition: inline; filename="encrypted.asc"\n\n'
                          + PGP_ARMOUR + "--ENC--\n")
INLINE_PGP = mail("text/plain; charset=us-ascii", "\n" + PGP_ARMOUR)
SIGNED_TEXT = "Please find the signed order below.\nOrder 4711: 3 toner cartridges.\n"
SMIME_SIGNED = mail('multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="SIG"',
                    "\nThis is a cryptographically signed message in MIME format.\n\n--SIG\n"
                    f"Content-Type: text/plain; charset=utf-8\n\n{SIGNED_TEXT}--SIG\n"
                    'Content-Type: application/pkcs7-signature; name="smime.p7s"\nContent-Transfer-Encoding: base64\n'
                    'Content-Disposition: attachment; filename="smime.p7s"\n\n' + b64(noise("p7s", 600)) + "--SIG--\n")
PGP_SIGNED = mail('multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature"; boundary="PS"',
                  f"\n--PS\nContent-Type: text/plain; charset=utf-8\n\n{SIGNED_TEXT}--PS\n"
                  'Content-Type: application/pgp-signature; name="signature.asc"\n'
                  'Content-Disposition: attachment; filename="signature.asc"\n\n-----BEGIN PGP SIGNATURE-----\n\n'
                  + base64.b64encode(noise("asc", 120)).decode() + "\n=wxyz\n-----END PGP SIGNATURE-----\n--PS--\n")
SMIME_OPAQUE_SIGNED = mail('application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"',
                           'Content-Disposition: attachment; filename="smime.p7m"\n'
                           "Content-Transfer-Encoding: base64\n\n" + b64(noise("opaque", 700)))


def rendered(raw: bytes):
    """(parsed mail, content, issue description) as write_to_jira makes them for a new ticket."""
    parsed = parse_mail(raw)
    content = mail_content(parsed)
    return parsed, content, issue_description(parsed.headers, content.body, content.notes,
                                              attachments=content.upload_names)


@pytest.mark.parametrize(("raw", "kind", "ciphertext_types"), [
    (SMIME_ENCRYPTED, "S/MIME", {"application/pkcs7-mime"}),
    (PGP_MIME_ENCRYPTED, "PGP", {"application/pgp-encrypted", "application/octet-stream"}),
    (INLINE_PGP, "PGP", set()),
], ids=["smime-enveloped", "pgp-mime", "inline-pgp"])
def test_encrypted_mail_says_so_and_carries_its_original(raw, kind, ciphertext_types):
    parsed, content, description = rendered(raw)
    assert parsed.encryption == kind
    assert f"this mail is encrypted ({kind})" in description
    originals = [u for u in content.uploads if u.original_name == ORIGINAL_NAME]
    assert len(originals) == 1 and originals[0].data == raw and originals[0].content_type == "message/rfc822"
    assert f"[^{originals[0].filename}]" in description  # listed, so a retry knows it is uploaded
    # the ciphertext parts stay inside the original: nothing but the original is uploaded
    assert [u.content_type for u in content.uploads] == ["message/rfc822"]
    assert {a.content_type for a in parsed.attachments} >= ciphertext_types
    assert {s.reason for s in content.skipped} <= {"the encrypted content (in the original mail)"}
    assert len(content.skipped) == len([a for a in parsed.attachments if a.content_type in ciphertext_types])
    assert "From: Dana Crypt <dana@customer.example>" in description


def test_pgp_mime_encrypted_skips_both_ciphertext_parts_by_name():
    _, content, description = rendered(PGP_MIME_ENCRYPTED)
    assert [s.filename for s in content.skipped if s.filename.startswith("encrypted")] == ["encrypted.asc"]
    assert "encrypted.asc" in description and "not uploaded" in description
    assert "[^encrypted.asc]" not in description


@pytest.mark.parametrize(("raw", "kind", "signature_name"), [
    (SMIME_SIGNED, "S/MIME", "smime.p7s"),
    (PGP_SIGNED, "PGP", "signature.asc"),
], ids=["smime-detached", "pgp-mime-signed"])
def test_signed_mail_keeps_its_text_and_notes_the_unverified_signature(raw, kind, signature_name):
    parsed, content, description = rendered(raw)
    assert parsed.encryption is None and parsed.signature == kind
    assert "Order 4711: 3 toner cartridges." in content.body
    assert f"signed ({kind}) by dana@customer.example, not verified" in description
    assert content.uploads == ()  # neither the signature file nor the original: the text is all there
    assert [s.filename for s in content.skipped] == [signature_name]
    assert f"[^{signature_name}]" not in description
    assert "encrypted" not in description


def test_opaque_smime_signed_data_counts_as_unreadable_content():
    """smime-type=signed-data wraps the text inside the signature, which Jicket does not open."""
    parsed, content, description = rendered(SMIME_OPAQUE_SIGNED)
    assert parsed.signature == "S/MIME"
    assert parsed.encryption == "S/MIME (opaque signed)"
    assert "this mail is encrypted (S/MIME (opaque signed))" in description
    assert [u.original_name for u in content.uploads] == [ORIGINAL_NAME]


def test_signed_by_names_no_address_when_the_sender_is_unreadable():
    raw = PGP_SIGNED.replace(SENDER.encode(), b"<<<>>>")
    _, _, description = rendered(raw)
    assert "signed (PGP) by an unknown sender, not verified" in description


def test_plain_mail_is_neither_encrypted_nor_signed():
    parsed, _, description = rendered(mail("text/plain; charset=utf-8", "\nJust text, mentions smime.p7m.\n"))
    assert parsed.encryption is None and parsed.signature is None
    assert "encrypted" not in description and "not verified" not in description


def test_encrypted_reply_is_a_comment_with_the_same_note():
    parsed = parse_mail(SMIME_ENCRYPTED)
    content = mail_content(parsed, as_comment=True)
    assert any(note.startswith("this mail is encrypted (S/MIME)") for note in content.notes)
    assert [u.original_name for u in content.uploads] == [ORIGINAL_NAME]
