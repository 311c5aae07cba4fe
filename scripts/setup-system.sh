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
# Courier-IMAP: the test server without custom keywords (sandbox/courier.py runs /usr/bin/imapd itself).
# It pulls courier-authlib and exim4, whose install scripts would start system daemons (exim on port 25,
# authdaemond, imapd on 143/993): a policy-rc.d that denies every start, only if the machine has none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends courier-imap >/dev/null
echo "system packages installed"
