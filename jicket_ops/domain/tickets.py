"""What Jira holds, as the write plan sees it: issues that carry a ticket id and the mail markers on them."""

from __future__ import annotations

from dataclasses import dataclass, field

from jicket_ops.domain.rendering import attachment_intent, mail_marker


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to_category: str  # new, indeterminate, done


@dataclass(frozen=True)
class Ticket:
    """A Jira issue that carries a ticket id, with the mail markers found on it.

    ``texts`` are its description and comment bodies (wiki markup): the attachment list a mail's text
    announces is read from there (``intended_attachments``); ``attachments`` are (filename, size) of
    the files it holds.
    """

    key: str
    issue_id: int
    summary: str
    status_category: str
    markers: frozenset[str]
    status_name: str = ""
    attachments: tuple[tuple[str, int], ...] = ()
    texts: tuple[str, ...] = field(default=(), repr=False)
    links: frozenset[str] = frozenset()  # keys of linked issues
    transitions: tuple[Transition, ...] = ()
    ticket_id: str | None = None  # the Jicket id in its summary, if any
    opening_markers: frozenset[str] = frozenset()  # the markers in its description (the mail that opened it)

    def has_mail(self, mail_key: str) -> bool:
        return mail_marker(mail_key) in self.markers

    def opened_by(self, mail_key: str) -> bool:
        """Whether this issue was created for that mail (its description carries the mail's marker)."""
        return mail_marker(mail_key) in self.opening_markers

    @property
    def resolved(self) -> bool:
        return self.status_category == "done"

    @property
    def attachment_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.attachments)

    def intended_attachments(self, mail_key: str) -> list[str] | None:
        """The names the text carrying this mail's marker announced; None without such a text."""
        for text in self.texts:
            names = attachment_intent(text, mail_key)
            if names is not None:
                return names
        return None

    def holds_attachment(self, name: str, size: int) -> bool:
        return (name, size) in self.attachments


@dataclass(frozen=True)
class TicketLookup:
    """The issues a batch of mails refers to, found in one batched lookup.

    ``by_id``: ticket id -> the oldest issue whose summary carries it; ``by_key``: issue key -> issue;
    ``by_mail``: mail key -> the issue holding that mail's marker (the mail a reply answers).
    """

    by_id: dict[str, Ticket] = field(default_factory=dict)
    by_key: dict[str, Ticket] = field(default_factory=dict)
    by_mail: dict[str, Ticket] = field(default_factory=dict)

    def merged(self, other: TicketLookup) -> TicketLookup:
        """This lookup with what ``other`` found added (``other`` wins: it is the newer read)."""
        return TicketLookup({**self.by_id, **other.by_id}, {**self.by_key, **other.by_key},
                            {**self.by_mail, **other.by_mail})
