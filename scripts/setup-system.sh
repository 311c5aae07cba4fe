#!/usr/bin/env bash
# Set-up, step 1 of 2 (as root): the Debian packages the local sandbox stack and the tests use.
# Dovecot (IMAP + LMTP) for the test mailbox; systemd for `systemd-analyze verify` of rendered units;
# rsync, sudo and setuptools for the Ansible tests (the role converges localhost with the system Python).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  dovecot-imapd dovecot-lmtpd systemd rsync sudo python3-venv python3-setuptools python3-dev gcc chromium >/dev/null
# Courier-IMAP: the test server without custom keywords (sandbox/courier.py runs its imapd itself). Debian's
# courier-imap conflicts with dovecot-imapd (both provide imap-server): installing it would remove Dovecot. Its
# imapd needs only libc, so the package is unpacked under /opt/courier-imap instead of installed.
if [ ! -x /opt/courier-imap/usr/bin/imapd ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download courier-imap >/dev/null)
  $SUDO mkdir -p /opt/courier-imap
  $SUDO dpkg-deb -x "$tmp"/courier-imap_*.deb /opt/courier-imap
  rm -rf "$tmp"
fi
echo "system packages installed"
