"""An idle run (nothing in the inbox) costs one task: fetch finds nothing and every other task is skipped."""

from __future__ import annotations

from tests.support import deliver, make_mail, only_issue


def test_an_empty_inbox_runs_fetch_only(env, run_dag):
    state, tasks = run_dag()
    assert state == "success", tasks
    assert tasks["fetch"] == "success"
    assert {task: s for task, s in tasks.items() if task != "fetch"} == dict.fromkeys(set(tasks) - {"fetch"},
                                                                                    "skipped"), tasks
    assert env.jira.requests_log() == [], "an idle run asks Jira nothing"


def test_a_mail_left_to_move_is_not_idle(env, run_dag):
    deliver(env, make_mail(subject="Printer broken"))
    assert run_dag()[0] == "success"
    only_issue(env)
    # The confirmation's copy came back into the inbox: the next run has work (it moves it), so it runs in full.
    state, tasks = run_dag()
    assert state == "success" and tasks["move"] == "success", tasks
