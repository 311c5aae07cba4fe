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
echo "system packages installed"
