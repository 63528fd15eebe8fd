#!/usr/bin/env bash
# Sets up everything the project needs on a fresh Debian machine with Python 3.11+:
# Debian packages (only when run as root and only those missing), a virtualenv in .venv,
# and the project installed in it with its extras. Re-running is fast: each part is skipped when done.
# Usage: scripts/setup.sh [studio|test]   (test also installs the PostgreSQL server and Xvfb)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-studio}"

find_python() {
    for cand in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

apt_install() {
    # Installs the named Debian packages that are not installed yet (root only).
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages (run as root to install them): ${missing[*]}" >&2
        return 0
    fi
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

if command -v dpkg-query >/dev/null 2>&1; then
    # Qt (offscreen and on a real display), fonts so text renders.
    apt_install libgl1 libegl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 \
        libxkbcommon0 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
        libxcb-render-util0 libxcb-shape0 libxcb-xkb1 fontconfig fonts-dejavu-core
    if [ "$purpose" = test ]; then
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql
        apt_install xvfb xauth
    fi
    python_ok=$(find_python || true)
    if [ -z "$python_ok" ]; then apt_install python3 python3-venv; fi
fi

PY=$(find_python) || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv 2>/dev/null || { apt_install python3-venv; "$PY" -m venv .venv; }
fi
extras="studio,postgres,sse"
[ "$purpose" = test ] && extras="$extras,dev"
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${extras//,/-}"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -U pip setuptools wheel
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
