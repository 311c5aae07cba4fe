"""What every stage shares: how a mail is named in logs, the mail list fetch hands on, the run's request."""

from __future__ import annotations

from dataclasses import dataclass

from jicket_ops.adapters.imap import FetchedHeader, Mailbox
from jicket_ops.domain.parsing import MailHeaders, parse_headers, with_body_digest
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.errors import JicketError


def describe(uid: int, headers: MailHeaders | None = None, ticket: str | None = None) -> str:
    """How logs and failure reports name a mail."""
    parts = [f"uid={uid}"]
    if headers is not None:
        parts.append(f"message_id={headers.message_id or '-'}")
    if ticket:
        parts.append(f"ticket={ticket}")
    return " ".join(parts)


@dataclass(frozen=True)
class InboxMail:
    """A mail as fetch lists it: UID, size, flags and the headers routing needs (no body)."""

    uid: int
    size: int
    flags: frozenset[str]
    headers: MailHeaders

    def as_dict(self) -> dict:
        return {"uid": self.uid, "size": self.size, "flags": sorted(self.flags), "headers": self.headers.as_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> InboxMail:
        return cls(int(data["uid"]), int(data["size"]), frozenset(data["flags"]),
                   MailHeaders.from_dict(data["headers"]))


def read_headers(mailbox: Mailbox, fetched: list[FetchedHeader]) -> dict[int, MailHeaders]:
    """The parsed headers of fetched mails; a mail the header cannot identify also gets its body's digest
    (one extra fetch, for such mails only), so that its mail key is its own."""
    headers = {item.uid: parse_headers(item.header) for item in fetched}
    weak = [uid for uid, parsed in headers.items() if parsed.needs_body_digest]
    if weak:
        for uid, body in mailbox.fetch_bodies(weak).items():
            headers[uid] = with_body_digest(headers[uid], body)
    return headers


def stage_request(stage_input: dict) -> RunRequest:
    """The run's request, as fetch recorded it in the XCom every later stage receives."""
    return RunRequest.from_dict(stage_input.get("request") or {})


def select_same(mailbox: Mailbox, stage_input: dict) -> None:
    """Select the folder fetch listed, refusing to act if its UIDs were renumbered since."""
    uidvalidity = mailbox.select(stage_input["folder"], readonly=stage_request(stage_input).dry_run)
    if uidvalidity != stage_input["uidvalidity"]:
        raise JicketError(
            f"UIDVALIDITY of {stage_input['folder']!r} changed from {stage_input['uidvalidity']} to {uidvalidity} "
            "during the run; nothing was written, the next run starts afresh")


def failures_for_xcom(failures: dict[int, str]) -> dict[str, str]:
    """Failures keyed by UID as XCom (JSON) keeps them: string keys."""
    return {str(uid): why for uid, why in sorted(failures.items())}
