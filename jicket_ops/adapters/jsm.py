"""Jira Service Management adapter: customer requests, customers, participants, public and internal comments.

A customer request is an issue of the service desk's project, so everything Jicket relies on for
exactly-once (the ticket id in the summary, the marker in every text, search, attachments, transitions)
keeps going through the platform API of ``JiraWriter``. Only what JSM adds goes through
``/rest/servicedeskapi``: the request is created there (request type, raised on behalf of the sender,
Cc'd people as participants) and comments are posted there (``public`` true or false).

Users are named by accountId on Jira Cloud and by user name on Data Center, in both directions.
"""

from __future__ import annotations

import logging

from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.domain.jsm import comment_visibility, participants_to_add, service_account_note
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.domain.wiki_markup import escape_line
from jicket_ops.errors import ConfigError, JiraError

log = logging.getLogger("jicket")

SD = "rest/servicedeskapi"


class JsmWriter(JiraWriter):
    """A JiraWriter that creates customer requests and JSM comments on one service desk.

    ``service_desk``: the desk's id or its project key; ``request_type``: the request type's name or id.
    Both are resolved once per task (two GETs) and a wrong one is a ConfigError naming the setting.
    """

    def __init__(self, conn_id: str, project: str, ids: TicketIdScheme, *, service_desk: str, request_type: str,
                 helpdesk: str, staff_domains: tuple[str, ...] = (), staff_comments: str = "internal",
                 concurrency: int = 1) -> None:
        super().__init__(conn_id, project, ids, "Service Request", concurrency)
        self.service_desk = service_desk
        self.request_type = request_type
        self.helpdesk = helpdesk.lower()
        self.staff_domains = staff_domains
        self.staff_comments = staff_comments
        self._desk: tuple[str, str] | None = None  # (service desk id, request type id)
        self._people: dict[str, str | None] = {}  # address -> accountId / user name of a customer (None: none)
        self.signup_closed = False

    # -- the desk ---------------------------------------------------------------------------------------------
    def desk(self) -> tuple[str, str]:
        """(service desk id, request type id), looked up once."""
        if self._desk is not None:
            return self._desk
        client = self._client()
        try:
            desk = self._call(f"service desk {self.service_desk}", client.get, f"{SD}/servicedesk/{self.service_desk}")
        except JiraError as exc:
            if exc.status == 404:
                raise ConfigError("JICKET_JSM_SERVICE_DESK", f"Jira has no service desk {self.service_desk!r} "
                                                             "(give its id or project key)") from exc
            raise
        desk_id = str(desk["id"])
        if str(desk.get("projectKey") or "").upper() != self.project.upper():
            raise ConfigError("JICKET_JSM_SERVICE_DESK", f"service desk {self.service_desk!r} belongs to project "
                                                         f"{desk.get('projectKey')!r}, not {self.project!r}")
        types = self._call("request types", client.get, f"{SD}/servicedesk/{desk_id}/requesttype",
                           params={"limit": 100}) or {}
        wanted = self.request_type.strip().lower()
        matches = [t for t in types.get("values") or []
                   if str(t.get("id")) == wanted or str(t.get("name", "")).strip().lower() == wanted]
        if not matches:
            known = ", ".join(repr(t.get("name")) for t in types.get("values") or [])
            raise ConfigError("JICKET_JSM_REQUEST_TYPE",
                              f"service desk {self.service_desk!r} has no request type {self.request_type!r} "
                              f"(it has {known or 'none'})")
        with self._lock:
            self._desk = (desk_id, str(matches[0]["id"]))
        return self._desk

    def _ref(self, user: dict) -> str | None:
        return user.get("accountId") if self.cloud else user.get("name")

    def _refs_body(self, refs: list[str]) -> dict:
        return {"accountIds" if self.cloud else "usernames": refs}

    # -- people -----------------------------------------------------------------------------------------------
    def customer(self, address: str, display_name: str = "") -> str | None:
        """The account that raises a request for ``address``: an existing customer of the desk, an existing
        account (added to the desk), or a new customer when the desk lets Jicket create one; else None."""
        address = address.strip().lower()
        with self._lock:
            if address in self._people:
                return self._people[address]
        ref = self._find_or_create_customer(address, display_name)
        with self._lock:
            self._people[address] = ref
        return ref

    def _find_or_create_customer(self, address: str, display_name: str) -> str | None:
        client = self._client()
        desk_id, _ = self.desk()
        found = self._call(f"customer search {address}", client.get, f"{SD}/servicedesk/{desk_id}/customer",
                           params={"query": address, "limit": 50}) or {}
        for user in found.get("values") or []:
            if str(user.get("emailAddress") or "").lower() == address and self._ref(user):
                return self._ref(user)
        ref = self.find_user(address)  # an account that exists but is not (yet) this desk's customer
        if ref is None and not self.signup_closed:
            try:
                created = self._call(f"create customer {address}", client.post, f"{SD}/customer",
                                     data={"email": address, "displayName": display_name or address})
            except JiraError as exc:
                if exc.status in (401, 403):
                    # The desk does not let Jicket create customers: requests are raised by the service account.
                    log.info("Jira refused to create customer %s (%s); raising requests as the service account",
                             address, exc.status)
                    self.signup_closed = True
                    return None
                if exc.status in (400, 409):  # an account exists that Jicket cannot see
                    log.warning("Jira has an account for %s that Jicket cannot see: %s", address, exc)
                    return None
                raise
            ref = self._ref(created or {})
        if ref is None:
            return None
        try:
            self._call(f"add customer {address} to desk {desk_id}", client.post,
                       f"{SD}/servicedesk/{desk_id}/customer", data=self._refs_body([ref]))
        except JiraError as exc:
            if exc.transient:
                raise
            log.warning("could not add %s to service desk %s: %s", address, desk_id, exc)
        return ref

    # -- writes -----------------------------------------------------------------------------------------------
    def create_request(self, summary: str, description: str, sender: str, sender_name: str,
                       cc: tuple[str, ...] = ()) -> str:
        """Create a customer request raised on behalf of ``sender``; Cc'd people become participants."""
        client = self._client()
        desk_id, type_id = self.desk()
        body: dict = {"serviceDeskId": desk_id, "requestTypeId": type_id,
                      "requestFieldValues": {"summary": summary, "description": description}}
        behalf = self.customer(sender, sender_name) if sender else None
        if behalf is not None:
            body["raiseOnBehalfOf"] = behalf
        else:
            why = "the service desk does not let Jicket create customers" if self.signup_closed else \
                "no Jira account could be found or created for the sender"
            body["requestFieldValues"]["description"] = (
                f"{description}\n\n_Jicket: {escape_line(service_account_note(sender or 'an unknown sender', why))}_")
        wanted = participants_to_add(cc, sender=sender, helpdesk=self.helpdesk, staff_domains=self.staff_domains)
        refs = [r for r in (self.customer(a) for a in wanted) if r is not None and r != behalf]
        if refs:
            body["requestParticipants"] = refs
        result = self._call(f"create request {summary[:80]!r}", client.post, f"{SD}/request", data=body)
        return result["issueKey"]

    def request_people(self, issue_key: str) -> tuple[str | None, list[str]]:
        """(the requester's e-mail address, the participants' addresses) of a request."""
        client = self._client()
        found = self._call(f"request {issue_key}", client.get, f"{SD}/request/{issue_key}",
                           params={"expand": "participant"}) or {}
        reporter = (found.get("reporter") or {}).get("emailAddress")
        participants = [str(p.get("emailAddress") or "").lower()
                        for p in (found.get("participants") or {}).get("values") or []]
        return (reporter.lower() if reporter else None), [p for p in participants if p]

    def add_reply(self, issue_key: str, body: str, sender: str, cc: tuple[str, ...] = ()) -> bool:
        """A mail's reply as a JSM comment, public or internal (``domain.jsm.comment_visibility``); new Cc'd
        customers join the request. Returns whether the comment is public."""
        requester, participants = self.request_people(issue_key)
        visibility = comment_visibility(sender, requester, participants, staff_domains=self.staff_domains,
                                        helpdesk=self.helpdesk, staff_comments=self.staff_comments)
        log.info("%s: reply from %s is %s (%s)", issue_key, sender, "public" if visibility.public else "internal",
                 visibility.reason)
        self._comment(issue_key, body, visibility.public)
        if visibility.public:  # people a customer Cc's join the request; staff's Cc's are not the customer's
            known = {requester or "", *participants}
            wanted = [a for a in participants_to_add(cc, sender=sender, helpdesk=self.helpdesk,
                                                     staff_domains=self.staff_domains) if a not in known]
            refs = [r for r in (self.customer(a) for a in wanted) if r is not None]
            if refs:
                self._call(f"participants of {issue_key}", self._client().post,
                           f"{SD}/request/{issue_key}/participant", data=self._refs_body(refs))
        return visibility.public

    def _comment(self, issue_key: str, body: str, public: bool) -> None:
        self._call(f"comment on {issue_key}", self._client().post, f"{SD}/request/{issue_key}/comment",
                   data={"body": body, "public": public})

    def add_comment(self, issue_key: str, body: str) -> None:
        """Jicket's own notes (refused attachments ...) are internal: the customer is not told about them."""
        self._comment(issue_key, body, False)


def jira_writer(settings) -> JiraWriter:
    """The writer a mailbox's settings ask for: JsmWriter in JSM mode (JICKET_JSM_SERVICE_DESK), else JiraWriter."""
    if settings.jsm_service_desk:
        return JsmWriter(settings.jira_conn_id, settings.jira_project, settings.ids,
                         service_desk=settings.jsm_service_desk, request_type=settings.jsm_request_type,
                         helpdesk=settings.ticket_address, staff_domains=settings.jsm_staff_domains,
                         staff_comments=settings.jsm_staff_comments, concurrency=settings.jira_concurrency)
    return JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type,
                      settings.jira_concurrency)


def set_fields(jira: JiraWriter, issue_key: str, fields: dict) -> list[str]:
    """Set fields of a new issue (priority, labels, components) with one PUT; a value Jira refuses is dropped
    (and named in the returned notes) and the rest is set again: never a failed write."""
    notes: list[str] = []
    remaining = dict(fields)
    while remaining:
        try:
            jira._call(f"fields of {issue_key}", jira._client().put, f"rest/api/2/issue/{issue_key}",
                       data={"fields": remaining})
            return notes
        except JiraError as exc:
            if exc.transient:
                raise
            refused = [name for name in remaining if name in str(exc)] or list(remaining)
            for name in refused:
                notes.append(f"Jira refused {name} {remaining.pop(name)!r}: {str(exc)[:200]}")
            log.warning("%s: %s", issue_key, notes[-1])
    return notes
