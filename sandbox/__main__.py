"""``python -m sandbox up --dir DIR`` runs the local stack; ``python -m sandbox seed --dir DIR`` adds a mail.

up:   starts the IMAP server (Dovecot, or Courier-IMAP without keywords and MOVE with
      ``--imap-server courier``), the SMTP relay and (when present) the Jira stand-in in the foreground, writes
      DIR/stack.env (``export`` lines: ``. DIR/stack.env``) and then DIR/stack.json (ports, users, CA),
      and runs until SIGTERM or SIGINT, then stops everything, removes both files and exits 0.
seed: appends a sample customer mail to the helpdesk INBOX of the stack running for DIR.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

SAMPLE_SUBJECT = "Printer on floor 3 is on fire"


def _up(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)  # before anything starts: a stop during start-up is honoured
    signal.signal(signal.SIGINT, on_signal)

    from sandbox.stack import SandboxStack

    directory = Path(args.dir).absolute()
    started = time.monotonic()
    stack = SandboxStack(directory, jira=not args.no_jira, jira_mode=args.jira_mode, imap_server=args.imap_server)
    try:
        stack.start()
        env_path, json_path = stack.write_state(directory)
        server = stack.mailserver
        delivery = f"LMTP {server.lmtp_port}" if server.lmtp_port else "delivery into its Maildirs"
        print(f"sandbox up in {time.monotonic() - started:.2f} s: {stack.imap_server} IMAP {server.imap_port} "
              f"(STARTTLS), IMAPS {server.imaps_port}, {delivery}, success folder {stack.success_folder!r}, "
              f"SMTP {stack.smtp_port} (STARTTLS), Jira {stack.jira_url or 'not available'}", flush=True)
        print(f"environment: . {env_path}   state: {json_path}   stop: SIGTERM or Ctrl-C", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        for name in ("stack.json", "stack.env"):  # no stale state for `seed` or the shell
            (directory / name).unlink(missing_ok=True)
        stack.stop()
    print("sandbox stopped", flush=True)
    return 0


def _seed(args: argparse.Namespace) -> int:
    from sandbox.imap_client import ImapTestClient
    from sandbox.stack import load_state

    state = load_state(args.dir)
    helpdesk, customer = state["helpdesk"], state["customer"]
    msg = EmailMessage()
    msg["From"] = f"Casey Customer <{customer}>"
    msg["To"] = helpdesk
    msg["Subject"] = args.subject
    msg["Date"] = format_datetime(datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content("Hello helpdesk,\n\nthe printer on floor 3 is on fire. Please send help "
                    "(and a fire extinguisher).\n\nCasey\n")
    with ImapTestClient(state["host"], state["imaps_port"], helpdesk, state["users"][helpdesk],
                        state["ca_file"]) as client:
        uid = client.append("INBOX", msg.as_bytes())
    print(f"seeded {msg['Message-ID']} as UID {uid} in the INBOX of {helpdesk}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the local stack in the foreground until SIGTERM/SIGINT")
    up.add_argument("--dir", required=True, help="state directory (stack.env, stack.json, mail, logs)")
    up.add_argument("--no-jira", action="store_true", help="do not start the Jira stand-in")
    up.add_argument("--jira-mode", choices=("dc", "cloud"), default="dc", help="Jira stand-in behaviour")
    up.add_argument("--imap-server", choices=("dovecot", "courier"), default="dovecot",
                    help="dovecot (default) or courier: no custom keywords and no MOVE, as on Exchange")
    up.set_defaults(func=_up)
    seed = sub.add_parser("seed", help="append a sample customer mail to the helpdesk INBOX")
    seed.add_argument("--dir", required=True, help="the directory given to `up`")
    seed.add_argument("--subject", default=SAMPLE_SUBJECT)
    seed.set_defaults(func=_seed)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
