"""A big attachment on the real servers: write_to_jira uploads it byte-identical, once, in one streamed request
with a Content-Length (the stand-in validates it against Jira's API), and holds a small multiple of the mail
in memory meanwhile (traced Python allocations; the standard library's path took about 9x)."""

from __future__ import annotations

import random
import tracemalloc

import requests

from bench.common import fill_backlog, jira_request_kinds, make_mail, seed_tickets
from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.domain.attachments import MultipartBody
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.settings import environment_lookup, load_settings
from jicket_ops.stages import write_to_jira as write_stage
from jicket_ops.stages.fetch import fetch
from jicket_ops.stages.filter_mails import filter_mails
from jicket_ops.stages.route import route
from tests.support import TEMPLATE

NAME = "Vertrag M\u00fcller (final).pdf"


def test_a_big_attachment_reaches_jira_byte_identical_in_one_streamed_request(stack, monkeypatch):
    monkeypatch.setenv("JICKET_ATTACHMENT_MAX_BYTES", "100M")
    stack.jira.configure(attachment_max_bytes=100 * 1024 * 1024)  # reset with the stand-in after the test
    data = random.Random(11).randbytes(9 * 1024 * 1024)  # 12 MB once encoded: a big mail, written alone
    raw = make_mail(1, subject="The signed contract", attachment=data).replace(b"scan-1.bin", NAME.encode())
    assert len(raw) > write_stage.BIG_MAIL_BYTES
    existing = seed_tickets(stack, 1)
    with stack.imap() as client:
        client.append("INBOX", raw)
    fill_backlog(stack, 6, existing=existing, attachment_share=0)  # small mails before and after it
    settings = load_settings(environment_lookup(), TEMPLATE)
    with Mailbox(settings.imap_conn_id) as mailbox:
        fetched = fetch(settings, mailbox)
    with Mailbox(settings.imap_conn_id) as mailbox:
        routed = route(settings, mailbox, filter_mails(settings, mailbox, fetched))
    sizes = {m["uid"]: m["size"] for m in fetched["mails"]}
    headers = {m["uid"]: MailHeaders.from_dict(m["headers"]) for m in fetched["mails"]}

    jira = JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type,
                      settings.jira_concurrency)
    uploads: list[requests.PreparedRequest] = []
    jira._client()._session.hooks["response"].append(  # what went over the wire (observed, not replaced)
        lambda response, *args, **kwargs: uploads.append(response.request)
        if response.request.path_url.endswith("/attachments") else None)
    stack.jira.clear_requests()
    tracemalloc.start()
    try:
        with Mailbox(settings.imap_conn_id) as mailbox:
            written = write_stage.write_to_jira(settings, mailbox, jira, routed, sizes, headers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert written["failed"] == {} and len(written["results"]) == 7
    assert jira_request_kinds(stack.jira.requests_log()).get("attachment") == 1, "uploaded exactly once"
    [upload] = uploads
    assert isinstance(upload.body, MultipartBody), "streamed, not built in memory"
    assert upload.headers["Content-Length"] == str(len(upload.body)) and "Transfer-Encoding" not in upload.headers
    [issue] = [i for i in stack.jira.issues() if i["fields"].get("attachment")]
    [attachment] = issue["fields"]["attachment"]
    assert attachment["filename"] == NAME and attachment["size"] == len(data)
    download = requests.get(attachment["content"], auth=(stack.jira.user, stack.jira.password), timeout=60,
                            verify=str(stack.ca_file))
    download.raise_for_status()
    assert download.content == data, "byte-identical in Jira"
    assert peak < 5 * len(raw), f"write_to_jira held {peak / len(raw):.1f}x the big mail at its peak"
