"""The reports Jicket files in the quarantine folder: beside a mail it gave up on, and (folders mode) one per
failed attempt, which is how failures are counted without keywords (pure)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, localtime

from jicket_ops.domain.header_safety import header_message_ids, header_text, verify_headers
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.rendering import single_line

FAILURE_HEADER = "X-Jicket-Failed"  # on a failure report: the mail key of the mail that failed


def quarantine_report(*, uid: int, mail_name: str, folder: str, quarantine_folder: str, ticket_address: str,
                      headers: MailHeaders | None, reason: str) -> bytes:
    """A short mail saying why a mail was quarantined and how to import it after all."""
    report = EmailMessage()
    report["From"] = ticket_address
    report["To"] = ticket_address
    subject = header_text(headers.subject, 150) if headers else f"uid {uid}"
    report["Subject"] = f"Jicket quarantined: {subject}"
    report["Date"] = format_datetime(localtime())
    report["Auto-Submitted"] = "auto-generated"
    if headers and header_message_ids([headers.message_id or ""]):
        report["X-Jicket-Quarantined"] = headers.message_id
    report.set_content(
        f"Jicket moved a mail to {quarantine_folder} instead of importing it.\n\n"
        f"Reason: {single_line(reason)}\n"
        f"Mail: {mail_name} (in {folder} when quarantined)\n"
        f"From: {single_line(headers.from_display) if headers else '?'}\n"
        f"Date: {single_line(headers.date) if headers else '?'}\n\n"
        "To import it after all, move it back to the inbox and remove its $Jicket* keywords.\n")
    return verify_headers(report)


def failure_report(*, uid: int, mail_name: str, count: int, limit: int, ticket_address: str, headers: MailHeaders,
                   reason: str) -> bytes:
    """A failed attempt at a mail (folders mode): it counts towards JICKET_POISON_AFTER."""
    report = EmailMessage()
    report["From"] = ticket_address
    report["To"] = ticket_address
    report["Subject"] = f"Jicket: attempt {count} of {limit} failed: {header_text(headers.subject, 120)}"
    report["Date"] = format_datetime(localtime())
    report["Auto-Submitted"] = "auto-generated"
    report[FAILURE_HEADER] = headers.mail_key()
    report.set_content(f"Jicket could not handle a mail ({mail_name}) in this run; it stays in the inbox and is "
                       f"tried again.\n\nReason: {single_line(reason)}\n")
    return verify_headers(report)
