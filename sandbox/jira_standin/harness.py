"""Start the Jira stand-in as a subprocess and drive its admin API from tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]


class AdminClient:
    """The stand-in's admin API (``/_standin/...``); works against any running stand-in."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = requests.Session()

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        r = self._http.request(method, f"{self.url}/_standin/{path}", json=payload, timeout=self.timeout)
        if r.status_code >= 400:
            raise RuntimeError(f"stand-in admin {method} {path}: HTTP {r.status_code}: {r.text}")
        return r.json()

    def state(self) -> dict:
        """All issues with fields, comments, attachment metadata (incl. sha256), links, watchers."""
        return self._call("GET", "state")

    def issues(self) -> list[dict]:
        return self.state()["issues"]

    def violations(self) -> list[dict]:
        """Spec violations, unknown paths, crashes, Cloud 410s recorded so far."""
        return self._call("GET", "violations")

    def clear_violations(self) -> None:
        self._call("POST", "violations/clear")

    def reset(self) -> None:
        """Forget issues, extra users, config, faults, violations and the request log."""
        self._call("POST", "reset")

    def add_users(self, *users: dict) -> list[dict]:
        """Each user: {"name", "password", "email"?, "displayName"?, "accountId"?, "api_token"?,
        "active"?}."""
        flat: list[dict] = []
        for u in users:
            flat.extend(u if isinstance(u, list) else [u])
        return self._call("POST", "users", flat)

    def add_projects(self, *keys: str) -> list[dict]:
        return self._call("POST", "projects", [{"key": k} for k in keys])

    def configure(self, **settings: Any) -> dict:
        """latency_ms, search_delay_seconds, text_field_limit, attachment_max_bytes, autowatch,
        search_max_results, cloud_max_results, basic_auth, jsm_open_customer_signup, base_url."""
        return self._call("POST", "config", settings)

    def add_token(self, user: str, token: str) -> dict:
        """Registers a Data Center personal access token of ``user`` (``Authorization: Bearer <token>``)."""
        return self._call("POST", "tokens", {"user": user, "token": token})[0]

    def add_service_desk(
        self, project_key: str, request_types: list | None = None, *, open_access: bool = False
    ) -> dict:
        """A JSM service desk on ``project_key`` (created if missing). Request types: names or
        {"name", "description"?, "helpText"?, "issueType"?} (default one, "Emailed request").
        Returns {"id", "projectKey", "requestTypes": [{"id", "name", "issueTypeId"}], "customers", ...}."""
        payload = {"project": project_key, "request_types": request_types, "open_access": open_access}
        return self._call("POST", "servicedesks", payload)

    def inject_faults(self, *rules: dict, append: bool = False) -> list[dict]:
        """Rules: {"method", "path_regex", "action": status|drop_after_commit|drop_before|delay,
        "status", "count" (default 1, -1 = always), "skip", "delay_s", "message", "retry_after"}.
        Replaces the current rules unless ``append``; no rules clears them."""
        flat: list[dict] = []
        for r in rules:
            flat.extend(r if isinstance(r, list) else [r])
        return self._call("POST", "faults", {"rules": flat, "append": append})

    def faults(self) -> list[dict]:
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def requests_log(self) -> list[dict]:
        """[{seq, ts, method, path, query, status (None if dropped), duration_ms, fault, user,
        auth ("basic" | "bearer" | None), credential ("password" | "api_token" | "pat" | None), auth_headers}]"""
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("POST", "requests/clear")

    def count_requests(self, method: str | None = None, path_regex: str | None = None) -> int:
        import re

        pat = re.compile(path_regex) if path_regex else None
        return sum(
            1
            for e in self.requests_log()
            if (method is None or e["method"] == method.upper()) and (pat is None or pat.search(e["path"]))
        )


class JiraStandin:
    """A Jira stand-in in a subprocess.

    >>> with JiraStandin(mode="dc", user="admin", password="secret", project="HD") as jira:
    ...     Jira(url=jira.url, username=jira.user, password=jira.password).myself()
    """

    def __init__(
        self,
        *,
        mode: str = "dc",
        user: str = "admin",
        password: str = "admin",
        project: str | list[str] = "HD",
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 20.0,
        log_path: str | os.PathLike | None = None,
        python: str | None = None,
        extra_args: list[str] | None = None,
        exit_with_parent: bool = True,
    ):
        self.mode = mode
        self.user = user
        self.password = password
        self.projects = [project] if isinstance(project, str) else list(project)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.python = python or sys.executable
        self.extra_args = list(extra_args or [])
        self.exit_with_parent = exit_with_parent
        self._tmp = tempfile.TemporaryDirectory(prefix="jira-standin-")
        self.log_path = Path(log_path) if log_path else Path(self._tmp.name) / "standin.log"
        self.proc: subprocess.Popen | None = None
        self.url: str = ""
        self.admin: AdminClient | None = None

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> JiraStandin:
        if self.proc is not None:
            return self
        ready = Path(self._tmp.name) / "ready"
        ready.unlink(missing_ok=True)  # a restart must not read the previous run's URL
        cmd = [
            self.python,
            "-m",
            "sandbox.jira_standin",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--mode",
            self.mode,
            # "--opt=value": a random password may start with "-", which argparse takes for an option.
            f"--user={self.user}",
            f"--password={self.password}",
            "--ready-file",
            str(ready),
        ]
        if self.exit_with_parent:  # no orphaned stand-in when the test process dies
            cmd += ["--exit-with-parent", str(os.getpid())]
        for p in self.projects:
            cmd += [f"--project={p}"]
        cmd += self.extra_args
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(REPO_ROOT),
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"Jira stand-in exited with {self.proc.returncode}: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"Jira stand-in not ready after {self.startup_timeout}s: {self._log_tail()}"
                )
            time.sleep(0.02)
        self.url = ready.read_text().strip()
        self.admin = AdminClient(self.url)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._tmp.cleanup()

    def __enter__(self) -> JiraStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    # conveniences ---------------------------------------------------------------------------

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def _admin(self) -> AdminClient:
        if self.admin is None:
            raise RuntimeError("the Jira stand-in is not started")
        return self.admin

    def state(self) -> dict:
        return self._admin().state()

    def issues(self) -> list[dict]:
        return self._admin().issues()

    def violations(self) -> list[dict]:
        return self._admin().violations()

    def clear_violations(self) -> None:
        self._admin().clear_violations()

    def reset(self) -> None:
        self._admin().reset()

    def add_users(self, *users: dict) -> list[dict]:
        return self._admin().add_users(*users)

    def add_projects(self, *keys: str) -> list[dict]:
        return self._admin().add_projects(*keys)

    def configure(self, **settings: Any) -> dict:
        return self._admin().configure(**settings)

    def inject_faults(self, *rules: dict, append: bool = False) -> list[dict]:
        return self._admin().inject_faults(*rules, append=append)

    def add_token(self, user: str, token: str) -> dict:
        return self._admin().add_token(user, token)

    def add_service_desk(
        self, project_key: str, request_types: list | None = None, *, open_access: bool = False
    ) -> dict:
        return self._admin().add_service_desk(project_key, request_types, open_access=open_access)

    def clear_faults(self) -> None:
        self._admin().clear_faults()

    def requests_log(self) -> list[dict]:
        return self._admin().requests_log()

    def clear_requests(self) -> None:
        self._admin().clear_requests()

    def count_requests(self, method: str | None = None, path_regex: str | None = None) -> int:
        return self._admin().count_requests(method, path_regex)
