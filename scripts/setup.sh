#!/usr/bin/env bash
# Installs whatever is missing, and nothing when nothing is: the Debian packages (scripts/setup-system.sh, as root
# or through sudo) and the virtualenv (scripts/setup-venv.sh). scripts/run.sh and scripts/test.sh call it first, so
# each of them works on a fresh machine on its own.
#
# Quick when nothing changed: each step leaves a stamp holding the SHA-256 of the files that decide what it
# installs; a step whose stamp matches (and whose results are still there) is skipped, so a second call runs
# neither apt nor pip. Force a step with JICKET_SETUP_FORCE=1.
#   system packages: stamp var/setup/system.sha256, keyed on scripts/setup-system.sh; checked binaries below
#   virtualenv:      stamp .venv/.jicket-setup.sha256, keyed on requirements*.txt, constraints.txt, pyproject.toml
#                    and scripts/setup-venv.sh (inside the venv: a removed venv takes its stamp with it)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/setup

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# What setup-system.sh provides that the stack and the tests need (a stamp alone may outlive a package removal).
system_ready() {
  command -v dovecot >/dev/null || [ -x /usr/sbin/dovecot ] || return 1
  [ -x /opt/courier-imap/usr/bin/imapd ] || return 1
  command -v systemd-analyze >/dev/null && command -v rsync >/dev/null && command -v gcc >/dev/null || return 1
  python3 -c "import ensurepip, venv" 2>/dev/null || return 1
}

system_hash=$(hash_of scripts/setup-system.sh)
if [ "${JICKET_SETUP_FORCE:-0}" != 1 ] && [ "$(cat var/setup/system.sha256 2>/dev/null)" = "$system_hash" ] \
    && system_ready; then
  echo "setup: system packages up to date"
elif [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
  echo "setup: installing system packages (scripts/setup-system.sh)"
  bash scripts/setup-system.sh
  echo "$system_hash" > var/setup/system.sha256
elif system_ready; then
  echo "setup: system packages present (not root and no sudo: scripts/setup-system.sh not re-run)"
else
  echo "setup: system packages are missing and this user can neither be root nor use sudo without a password;" >&2
  echo "       run 'sudo bash scripts/setup-system.sh' once, then this command again" >&2
  exit 1
fi

venv_hash=$(hash_of requirements.txt requirements-dev.txt constraints.txt pyproject.toml scripts/setup-venv.sh)
if [ "${JICKET_SETUP_FORCE:-0}" != 1 ] && [ -x .venv/bin/python ] \
    && [ "$(cat .venv/.jicket-setup.sha256 2>/dev/null)" = "$venv_hash" ]; then
  echo "setup: virtualenv up to date"
else
  echo "setup: building the virtualenv (scripts/setup-venv.sh)"
  bash scripts/setup-venv.sh
  echo "$venv_hash" > .venv/.jicket-setup.sha256
fi
