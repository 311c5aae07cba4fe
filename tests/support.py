"""Helpers shared by the test modules (one place; no test module imports another, nor a conftest).

Fixtures stay in the conftest.py of the folder that uses them; the plain functions and constants they and
the tests share live here: mails to deliver, the sandbox stack's mailboxes read back, the DAG loaded from
its file, the ticket tag of a summary, artefact folders.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import time
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from pathlib import Path
from typing import Any

from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.rendering import mail_marker
from jicket_ops.domain.routing import RouteDecision, route_mail
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.domain.tickets import Ticket
from sandbox.stack import CUSTOMER, HELPDESK, SUCCESS_FOLDER

ROOT = Path(__file__).resolve().parent.parent
# The deployment's confirmation template, as the DAG passes it to the settings.
TEMPLATE = ROOT / "include" / "templates" / "confirmation.html.j2"
# Where end-to-end tests leave screenshots and Airflow's component logs (git-ignored).
E2E_ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"

# Mailbox users the integration stack adds besides the helpdesk and the customer.
STAFF = "staff@example.test"
OPS = "ops@example.test"

# The unit tests' routing context: 0.6.2's default id scheme and a helpdesk address of another domain.
IDS = TicketIdScheme()
COMPANY_HELPDESK = "support@company.com"

# The ticket tag at the start of an issue summary: "[#JI-ZOZ2P6] Printer broken" -> "ZOZ2P6".
TAG = re.compile(r"\[#JI-([A-Z0-9]+)\]")

__all__ = [
    "COMPANY_HELPDESK", "CUSTOMER", "E2E_ARTIFACTS", "HELPDESK", "IDS", "OPS", "ROOT", "STAFF", "SUCCESS_FOLDER",
    "TAG", "TEMPLATE", "artifact_dir", "deliver", "empty_stack", "load_dag", "make_mail", "make_ticket", "messages",
    "only_issue", "route_in", "wait_for_messages",
]


def make_mail(*, sender: str = f"Customer <{CUSTOMER}>", to: str = HELPDESK, subject: str = "Printer broken",
              body: str = "The printer on floor 3 is broken.", cc: str | None = None,
              headers: dict[str, str] | None = None, message_id: str | None = None) -> bytes:
    """A plain-text customer mail to the helpdesk, dated now, with a fresh Message-ID unless one is given."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@customer.example.test>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


def deliver(stack: Any, raw: bytes, user: str = HELPDESK, folder: str = "INBOX", received=None) -> int:
    """Append a mail to a sandbox mailbox folder (created when missing); its UID."""
    folder = stack_folder(stack, folder)
    with stack.imap(user) as client:
        if folder not in client.list_folders():
            client.create_folder(folder)
        return client.append(folder, raw, date=received)


def stack_folder(stack: Any, folder: str) -> str:
    """Jicket's folder as the stack's IMAP server names it (Courier keeps folders under ``INBOX.``)."""
    names = {SUCCESS_FOLDER: getattr(stack, "success_folder", SUCCESS_FOLDER),
             "jicket-quarantine": getattr(stack, "quarantine_folder", "jicket-quarantine")}
    if folder in names:
        return names[folder]
    server_folder = getattr(getattr(stack, "mailserver", None), "folder", None)
    return server_folder(folder) if server_folder is not None else folder


def messages(stack: Any, folder: str = "INBOX", user: str = HELPDESK) -> list:
    """The mails of a sandbox mailbox folder, as the IMAP test client reads them."""
    with stack.imap(user) as client:
        return client.messages(stack_folder(stack, folder))


def wait_for_messages(stack: Any, count: int, folder: str = "INBOX", user: str = HELPDESK,
                      timeout: float = 10.0) -> list:
    """The folder's mails once it holds at least ``count`` (SMTP delivery is asynchronous), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        found = messages(stack, folder, user)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def empty_stack(stack: Any) -> None:
    """Empty the helpdesk's and the customer's mailboxes and the Jira stand-in (issues and request log)."""
    stack.empty_mailboxes(HELPDESK, CUSTOMER)
    stack.jira.reset()


def only_issue(stack: Any) -> dict:
    """The one issue the Jira stand-in holds (the test fails naming the summaries when there are more)."""
    issues = stack.jira.issues()
    assert len(issues) == 1, [i["fields"]["summary"] for i in issues]
    return issues[0]


def load_dag():
    """The jicket DAG, executed from dags/jicket_dag.py as Airflow's DAG processor would."""
    spec = importlib.util.spec_from_file_location("jicket_dag_under_test", ROOT / "dags" / "jicket_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DAG


def artifact_dir(name: str) -> Path:
    """A fresh tests/e2e/artifacts/NAME/ (git-ignored) for one test's screenshots."""
    path = E2E_ARTIFACTS / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def route_in(project: str | None = "HD", **fields) -> RouteDecision:
    """How a mail with these header fields routes as UID 7 of UIDVALIDITY 1234, to COMPANY_HELPDESK.

    The sender and subject default to a customer's new mail; ``project`` is the Jira project whose issue
    keys count (None: keys are not looked for).
    """
    headers = MailHeaders(**{"from_address": "foo@customer.com", "subject": "Feature XY broken", **fields})
    return route_mail(headers, uid=7, uidvalidity=1234, ids=IDS, ticket_address=COMPANY_HELPDESK, project=project)


def make_ticket(key: str = "HD-1", ticket_id: str | None = "KR532ELDTD", category: str = "new",
                mails: tuple[str, ...] | list[str] = (), **extra) -> Ticket:
    """A Jira issue as the adapter reads it: tagged with ``ticket_id``, holding the markers of ``mails``."""
    return Ticket(key=key, issue_id=1, summary=f"[#JI-{ticket_id}] x", status_category=category,
                  markers=frozenset(mail_marker(m) for m in mails), ticket_id=ticket_id, **extra)
