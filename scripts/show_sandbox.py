"""Show what a run did in the local sandbox: the Jira issues and the mail each mailbox holds."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.imap_client import ImapTestClient  # noqa: E402
from sandbox.jira_standin import AdminClient  # noqa: E402
from sandbox.stack import load_state  # noqa: E402


def main(directory: str) -> int:
    state = load_state(directory)
    print(f"== Jira issues (stand-in at {state['jira']['url']})")
    for issue in AdminClient(state["jira"]["url"]).issues():
        fields = issue["fields"]
        print(f"  {issue['key']}: {fields['summary']}  [{fields['status']['name']}]")
        for line in (fields.get("description") or "").splitlines()[:6]:
            print(f"      {line}")
        for comment in fields.get("comment", {}).get("comments", []):
            print(f"    comment: {comment['body'].splitlines()[0] if comment['body'] else ''}")
    for user, folders in ((state["customer"], ["INBOX"]), (state["helpdesk"], ["INBOX", state["success_folder"]])):
        with ImapTestClient(state["host"], state["imaps_port"], user, state["users"][user], state["ca_file"]) as imap:
            for folder in folders:
                found = imap.messages(folder)
                print(f"== {user} {folder}: {len(found)} mail(s)")
                for message in found:
                    print(f"  {message.message['Subject']}  (from {message.message['From']}; "
                          f"flags {' '.join(sorted(message.flags)) or '-'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/sandbox"))
