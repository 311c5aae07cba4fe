"""Process entry point: ``python -m sandbox.jira_standin --host 127.0.0.1 --port 0 --ready-file F``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tempfile

import uvicorn

from .app import StandinApp
from .store import Store
from .validation import SpecValidator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sandbox.jira_standin",
        description="Stateful Jira DC/Cloud stand-in for tests and a local sandbox.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see --ready-file)")
    p.add_argument("--mode", choices=("dc", "cloud"), default="dc")
    p.add_argument("--user", default="admin", help="the initial user (a Jira administrator)")
    p.add_argument("--password", default="admin", help="its password (in cloud mode also its API token)")
    p.add_argument(
        "--project",
        action="append",
        default=None,
        help="project key to create; repeat for more (default: HD)",
    )
    p.add_argument("--ready-file", default=None, help="write the base URL here once listening")
    p.add_argument(
        "--base-url", default=None, help="base URL used in 'self' links (default: the listening URL)"
    )
    p.add_argument("--log-level", default="warning")
    p.add_argument(
        "--exit-with-parent",
        type=int,
        default=None,
        metavar="PID",
        help="stop when process PID is gone (used by the JiraStandin helper)",
    )
    return p


def write_ready(path: str, url: str) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".ready-")
    with os.fdopen(fd, "w") as fh:
        fh.write(url + "\n")
    os.replace(tmp, path)


class _Server(uvicorn.Server):
    def __init__(self, config, ready: tuple[str | None, str], parent_pid: int | None = None):
        super().__init__(config)
        self._ready = ready
        self.parent_pid = parent_pid

    async def _watch_parent(self) -> None:
        while not self.should_exit:
            try:
                os.kill(self.parent_pid, 0)
            except ProcessLookupError:
                self.should_exit = True
                return
            except PermissionError:
                pass
            await asyncio.sleep(1.0)

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.parent_pid:
            self._watch = asyncio.ensure_future(self._watch_parent())
        path, url = self._ready
        if self.started:
            if path:
                write_ready(path, url)
            print(f"JIRA_STANDIN_URL={url}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    url = f"http://{host}:{port}"
    store = Store(
        mode=args.mode,
        user=args.user,
        password=args.password,
        projects=args.project or ["HD"],
        base_url=(args.base_url or url).rstrip("/"),
    )
    app = StandinApp(store, SpecValidator())
    logging.getLogger("uvicorn.error").setLevel(args.log_level.upper())
    config = uvicorn.Config(
        app, log_level=args.log_level, access_log=False, lifespan="off", timeout_keep_alive=30
    )
    server = _Server(config, (args.ready_file, url), args.exit_with_parent)
    profile_path = os.environ.get("JIRA_STANDIN_PROFILE")
    if not profile_path:
        server.run(sockets=[sock])
        return 0
    # Measuring the stand-in itself (JIRA_STANDIN_PROFILE=FILE): cProfile of the serving thread.
    import cProfile
    import signal

    # uvicorn re-raises a captured SIGTERM after its shutdown: make that an exception, so the stats are written
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run(sockets=[sock])
    finally:
        profiler.disable()
        profiler.dump_stats(profile_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
