"""The report Jicket files in the quarantine folder beside a mail it gave up on (pure)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, localtime

from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.rendering import single_line


def quarantine_report(*, uid: int, mail_name: str, folder: str, quarantine_folder: str, ticket_address: str,
                      headers: MailHeaders | None, reason: str) -> bytes:
    """A short mail saying why a mail was quarantined and how to import it after all."""
    report = EmailMessage()
    report["From"] = ticket_address
    report["To"] = ticket_address
    subject = single_line(headers.subject)[:150] if headers else f"uid {uid}"
    report["Subject"] = f"Jicket quarantined: {subject}"
    report["Date"] = format_datetime(localtime())
    report["Auto-Submitted"] = "auto-generated"
    if headers and headers.message_id:
        report["X-Jicket-Quarantined"] = single_line(headers.message_id)
    report.set_content(
        f"Jicket moved a mail to {quarantine_folder} instead of importing it.\n\n"
        f"Reason: {single_line(reason)}\n"
        f"Mail: {mail_name} (in {folder} when quarantined)\n"
        f"From: {single_line(headers.from_display) if headers else '?'}\n"
        f"Date: {single_line(headers.date) if headers else '?'}\n\n"
        "To import it after all, move it back to the inbox and remove its $Jicket* keywords.\n")
    return bytes(report)
