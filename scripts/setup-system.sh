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
# Courier-IMAP's imapd for the test server without custom keywords (sandbox/courier.py runs it itself).
# The courier-imap package conflicts with dovecot-imapd (both provide imap-server: installing one removes
# the other), so its files are only unpacked into /opt/courier-imap; the libraries imapd links come as
# ordinary packages (none of them starts a service).
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  courier-authlib libcourier-unicode4 libgamin0 libgdbm6 libidn12 >/dev/null
deb_dir=$(mktemp -d)
chmod 777 "$deb_dir"  # apt-get download runs as the _apt user
(cd "$deb_dir" && $SUDO apt-get download -qq courier-imap)
$SUDO rm -rf /opt/courier-imap
$SUDO dpkg-deb -x "$deb_dir"/courier-imap_*.deb /opt/courier-imap
rm -rf "$deb_dir"
if ldd /opt/courier-imap/usr/bin/imapd | grep "not found"; then
  echo "Courier imapd in /opt/courier-imap lacks a library" >&2
  exit 1
fi
echo "system packages installed"
