"""adapters.jira, its pure helpers: the JQL of a ticket lookup, and an issue's JSON (DC wiki text or Cloud ADF)
read as a Ticket."""

import pytest

from jicket_ops.adapters.jira import JiraWriter, jql_string, ticket_search_jql
from jicket_ops.domain.rendering import mail_marker
from tests.support import IDS

MAIL_KEY = "0123456789abcdef0123"


def test_jql_string_escapes_quotes_and_backslashes():
    assert jql_string("plain") == '"plain"'
    assert jql_string('say "hi"') == '"say \\"hi\\""'
    assert jql_string("C:\\temp") == '"C:\\\\temp"'
    assert jql_string('\\"') == '"\\\\\\""'  # a backslash before a quote cannot end the literal early


def test_ticket_search_is_one_phrase_per_id_and_one_text_term_per_mail_key():
    assert ticket_search_jql("HD", IDS, ["ZOZ2P6"]) == \
        'project = "HD" AND (summary ~ "\\"JI-ZOZ2P6\\"") ORDER BY created ASC'
    assert ticket_search_jql("HD", IDS, ["ZOZ2P6", "KR532ELDTD"], [MAIL_KEY]) == (
        'project = "HD" AND (summary ~ "\\"JI-ZOZ2P6\\"" OR summary ~ "\\"JI-KR532ELDTD\\"" '
        f'OR text ~ "{MAIL_KEY}") ORDER BY created ASC')
    assert ticket_search_jql("HD", IDS, [], [MAIL_KEY]) == \
        f'project = "HD" AND (text ~ "{MAIL_KEY}") ORDER BY created ASC'


@pytest.mark.parametrize("ticket_id", ['") OR project = X', "zoz2p6", "ZO", "ZOZ 2P6", ""])
def test_anything_but_a_well_formed_ticket_id_is_refused(ticket_id):
    with pytest.raises(ValueError, match="not a ticket id"):
        ticket_search_jql("HD", IDS, [ticket_id])


@pytest.mark.parametrize("mail_key", ['0123" OR x ~ "', "0123456789ABCDEF", "0123abc", "g" * 20, "a" * 65])
def test_anything_but_a_hex_mail_key_is_refused(mail_key):
    with pytest.raises(ValueError, match="not a mail key"):
        ticket_search_jql("HD", IDS, ["ZOZ2P6"], [mail_key])


def adf(*paragraphs: str) -> dict:
    """A Cloud (REST v3) rich-text body: one paragraph per string, lines joined by hard breaks."""
    content = []
    for paragraph in paragraphs:
        nodes: list[dict] = []
        for number, line in enumerate(paragraph.split("\n")):
            if number:
                nodes.append({"type": "hardBreak"})
            nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def test_an_issue_is_read_with_its_markers_files_links_and_transitions_from_wiki_or_adf_text():
    writer = JiraWriter("unused", "HD", IDS)  # no connection is opened until a request is made
    created, commented = "c" * 20, "d" * 20
    fields = {
        "summary": "[#JI-ZOZ2P6] Printer broken",
        "status": {"name": "Done", "statusCategory": {"key": "done"}},
        "description": f"From: x\n\nbody\n\n{mail_marker(created)}",
        "comment": {"comments": [{"body": adf("reply", mail_marker(commented))}]},
        "attachment": [{"filename": "a.pdf", "size": 10}],
        "issuelinks": [{"outwardIssue": {"key": "HD-1"}}, {"inwardIssue": {"key": "HD-2"}}],
    }
    transitions = [{"id": "3", "name": "Reopen Issue", "to": {"statusCategory": {"key": "new"}}}]
    ticket = writer._ticket({"key": "HD-7", "id": "10007", "fields": fields, "transitions": transitions})
    assert (ticket.key, ticket.issue_id, ticket.ticket_id) == ("HD-7", 10007, "ZOZ2P6")
    assert ticket.resolved and ticket.status_name == "Done"
    assert ticket.has_mail(created) and ticket.has_mail(commented) and not ticket.has_mail("e" * 20)
    assert ticket.texts[1] == f"reply\n\n{mail_marker(commented)}\n\n"
    assert ticket.attachments == (("a.pdf", 10),) and ticket.links == frozenset({"HD-1", "HD-2"})
    assert [(t.id, t.name, t.to_category) for t in ticket.transitions] == [("3", "Reopen Issue", "new")]


class _Answer:
    """A bulk create answer as Jira could send it (fault injection: the stand-in always answers consistently)."""

    def __init__(self, status: int, body) -> None:
        self.status_code, self._body = status, body
        self.text = str(body)

    def json(self):
        if self._body is None:
            raise ValueError("not JSON")
        return self._body


def bulk_writer(monkeypatch, *answers: _Answer) -> tuple[JiraWriter, list]:
    writer = JiraWriter("unused", "HD", IDS)
    sent: list = []
    queue = list(answers)

    def call(what, method, *args, **kwargs):
        sent.append(kwargs.get("data") or args)
        return queue.pop(0)

    monkeypatch.setattr(writer, "_call", call)
    monkeypatch.setattr(writer, "_client", lambda: type("Client", (), {"post": None, "cloud": False})())
    return writer, sent


def test_bulk_answer_that_does_not_account_for_every_element_is_a_transient_error(monkeypatch):
    from jicket_ops.adapters.jira import IssueDraft
    from jicket_ops.errors import JiraError

    writer, _ = bulk_writer(monkeypatch, _Answer(201, {"issues": [{"key": "HD-1"}], "errors": []}))
    with pytest.raises(JiraError, match="cannot tell which is which") as info:
        writer.create_issues([IssueDraft("a", "1"), IssueDraft("b", "2")])
    assert info.value.transient, "the caller must not treat the mails as refused: the retry looks them up"


def test_bulk_answer_maps_keys_and_errors_to_drafts_in_request_order(monkeypatch):
    from jicket_ops.adapters.jira import IssueDraft
    from jicket_ops.errors import JiraError

    writer, sent = bulk_writer(monkeypatch, _Answer(201, {
        "issues": [{"key": "HD-7"}, {"key": "HD-8"}],
        "errors": [{"status": 400, "failedElementNumber": 1, "elementErrors": {"errors": {"summary": "too long"}}}]}))
    first, refused, third = writer.create_issues([IssueDraft("a", "1"), IssueDraft("b" * 300, "2"),
                                                  IssueDraft("c", "3")])
    assert (first, third) == ("HD-7", "HD-8")
    assert isinstance(refused, JiraError) and refused.status == 400 and "too long" in str(refused)
    assert [u["fields"]["summary"] for u in sent[0]["issueUpdates"]] == ["a", "b" * 300, "c"]


def test_bulk_server_error_raises_and_a_refusal_as_a_whole_falls_back_to_single_creates(monkeypatch):
    from jicket_ops.adapters.jira import IssueDraft
    from jicket_ops.errors import JiraError

    writer, _ = bulk_writer(monkeypatch, _Answer(502, None))
    with pytest.raises(JiraError) as info:
        writer.create_issues([IssueDraft("a", "1"), IssueDraft("b", "2")])
    assert info.value.transient and info.value.status == 502

    writer, _ = bulk_writer(monkeypatch, _Answer(415, None))
    created: list[str] = []
    monkeypatch.setattr(writer, "create_issue", lambda summary, description, reporter=None: created.append(summary)
                        or f"HD-{len(created)}")
    assert writer.create_issues([IssueDraft("a", "1"), IssueDraft("b", "2")]) == ["HD-1", "HD-2"]
    assert created == ["a", "b"]
