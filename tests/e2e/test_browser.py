"""The Airflow UI in a real browser (Debian's Chromium, headless, driven by Playwright): the jicket DAG's page
shows its docs, the trigger form lists every Param with its description, and a dry run triggered from the
form succeeds with its summary visible. Screenshots go to tests/e2e/artifacts/browser/."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from sandbox.stack import CUSTOMER, SUCCESS_FOLDER
from tests.support import artifact_dir, deliver, make_mail, messages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG = "jicket"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PARAMS = ("mode", "folder", "since", "before", "dry_run", "max_mails")


@pytest.fixture()
def browser():
    """Debian's Chromium under Playwright; Playwright never downloads a browser of its own here."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"Playwright is not installed ({exc}): .venv/bin/pip install -r requirements-dev.txt")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: Debian's chromium package (apt-get install -y chromium, "
                    "scripts/setup-system.sh)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except PlaywrightError as exc:
            pytest.skip(f"{CHROMIUM} does not start headless here: {str(exc).splitlines()[0]}")
        try:
            yield chromium
        finally:
            chromium.close()


def doc_heading(doc_md: str) -> str:
    """The first Markdown heading of the DAG's doc_md, as the page renders it (no #)."""
    for line in doc_md.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    raise AssertionError(f"doc_md has no heading: {doc_md[:200]!r}")


def test_dag_docs_trigger_form_and_a_dry_run_from_the_form(clean, airflow, browser):
    stack = clean
    shots = artifact_dir("browser")
    details = airflow.api("GET", f"/dags/{DAG}/details").json()
    params = details["params"]
    assert sorted(params) == sorted(PARAMS), "the DAG's Params changed: update this test"
    deliver(stack, make_mail(subject="Decided, never written"))
    inbox_before = [(m.uid, m.flags - {"\\Recent"}) for m in messages(stack)]

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)  # two cores, shared with Airflow and the stack
    page.set_default_navigation_timeout(90_000)
    step = 0

    def shot(name: str) -> None:
        nonlocal step
        step += 1
        page.screenshot(path=str(shots / f"{step:02d}-{name}.png"), full_page=True)

    try:
        # Log in (the simple auth manager's form) and land on the DAG's page.
        page.goto(f"{airflow.url}/dags/{DAG}")
        sign_in, trigger = page.get_by_role("button", name="Sign in"), page.get_by_role("button", name="Trigger Dag")
        sign_in.or_(trigger).first.wait_for()  # the UI sends a visitor without a session to its login page
        if sign_in.is_visible():
            shot("login")
            page.get_by_label("Username").fill(airflow.user)
            page.get_by_label("Password").fill(airflow.password)
            page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(rf"/dags/{DAG}$"))
        trigger.wait_for()
        shot("dag-page")

        # The DAG's doc_md, rendered.
        page.get_by_role("button", name="Dag Docs").click()
        docs = page.get_by_role("dialog")
        heading = doc_heading(details["doc_md"])
        docs.get_by_role("heading", name=heading).wait_for()
        text = docs.inner_text()
        for stage in ("fetch", "filter", "route", "write_to_jira", "confirm", "move", "summarize"):
            assert re.search(rf"\b{stage}\b", text), f"the docs do not mention {stage}: {text[:1500]}"
        assert "###" not in text, "the doc_md is shown as raw Markdown"
        shot("dag-docs")
        page.keyboard.press("Escape")
        docs.wait_for(state="hidden")

        # The trigger form: every Param, with its title and description.
        trigger.click()
        form = page.get_by_role("dialog")
        form.get_by_text("Run Parameters").wait_for()
        for name in PARAMS:
            field = form.get_by_role("group").filter(has=page.locator(f'[name="element_{name}"]'))
            assert field.count() == 1, f"the trigger form has no field for Param {name}"
            field.scroll_into_view_if_needed()
            label = field.locator("label").first.inner_text().strip().rstrip("*").strip()
            assert label == params[name]["schema"]["title"], (name, label)
            assert params[name]["description"] and field.get_by_text(params[name]["description"]).is_visible(), \
                f"the trigger form does not show the description of {name}"
        shot("trigger-form")

        # A dry run from the form.
        dry_run = form.locator('[name="element_dry_run"]')
        assert not dry_run.is_checked()
        form.locator('label[data-scope="switch"]', has=page.locator('[name="element_dry_run"]')).click()
        assert dry_run.is_checked()
        shot("trigger-form-dry-run")
        form.get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_url(re.compile(rf"/dags/{DAG}/runs/[^/]+$"))
        run_id = unquote(page.url.rsplit("/runs/", 1)[1])
        run = airflow.dag_run(DAG, run_id)
        assert run["run_type"] == "manual" and run["conf"].get("dry_run") is True, run["conf"]
        run = airflow.wait_for_run(DAG, run_id, timeout=240)
        assert run["state"] == "success", airflow.describe_run(DAG, run_id)

        # The UI shows the run succeeded, and the summary: the summarize task's XCom and its log line.
        page.reload()
        page.get_by_text("Success").first.wait_for()
        shot("run-succeeded")
        page.get_by_role("table").get_by_role("link", name="summarize", exact=True).click()
        page.wait_for_url(re.compile(r"/tasks/summarize$"))
        page.get_by_role("link", name="Storage").click()
        page.get_by_role("link", name="XCom", exact=True).click()  # Storage has Task State Store | XCom
        summary = airflow.xcom(DAG, run_id, "summarize")
        assert (summary["dry_run"], summary["fetched"], summary["would_write"], summary["new"]) == \
            (True, 1, 1, 0), summary
        # The XCom tab: the summary as one readable line (key "summary") beside the folded JSON (return_value).
        row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="summary", exact=True)).first
        row.wait_for()
        value = row.get_by_role("cell").nth(2).inner_text().strip()  # Key, timestamp, Value
        assert value.startswith("dry run (inbox): fetched 1, new 0,") and "would write 1" in value, row.inner_text()
        page.get_by_role("row").filter(has=page.get_by_role("cell", name="return_value", exact=True)).first.wait_for()
        shot("summary-xcom")
        page.get_by_role("link", name="Logs").click()
        line = page.get_by_text("run summary:").first
        line.wait_for()
        assert "'would_write': 1" in line.inner_text() and "'dry_run': True" in line.inner_text(), \
            line.inner_text()
        shot("summary-log")
    except Exception:
        try:
            shot("failure")
        except Exception as exc:  # noqa: BLE001 - keep the original failure
            print(f"no failure screenshot: {exc}")
        raise
    finally:
        page.close()

    # The dry run wrote nothing anywhere.
    assert [(m.uid, m.flags - {"\\Recent"}) for m in messages(stack)] == inbox_before
    assert stack.jira.issues() == []
    assert messages(stack, SUCCESS_FOLDER) == [] and messages(stack, user=CUSTOMER) == []
