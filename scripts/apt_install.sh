#!/usr/bin/env bash
# Debian packages for a make target (browser, qemu, tesseract, bench-pages-data): as root, or with
# passwordless sudo. The target checks first whether they are already there.
# Usage: scripts/apt_install.sh TARGET [--optional "WHAT IS SKIPPED WITHOUT THEM"] PACKAGE...
# With --optional, a machine that cannot install them gets a warning and exit 0 (a test is then skipped);
# without it, an error and exit 1.
set -uo pipefail
target=$1
shift
skipped=""
if [ "${1:-}" = "--optional" ]; then
    skipped=$2
    shift 2
fi
fail() {
    if [ -n "$skipped" ]; then
        echo "$target: warning: $1; $skipped" >&2
        exit 0
    fi
    echo "$target: $1" >&2
    exit 1
}
if [ "$(id -u)" = 0 ]; then
    sudo=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
else
    fail "not root and no passwordless sudo: install $* yourself"
fi
command -v apt-get >/dev/null || fail "no apt-get: install $* yourself"
echo "$target: installing Debian's $*"
$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null || fail "apt-get failed"
