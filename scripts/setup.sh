#!/usr/bin/env bash
# Sets up what the project needs on a fresh Debian machine with Python 3.11+: the few Debian packages (only when
# run as root, only those missing; otherwise it prints the apt-get line to run), a virtualenv in .venv, and the
# project installed in it (editable) with the extras the purpose needs. Re-running is fast and harmless: every
# step checks first, and pip runs only when pyproject.toml or the wanted extras changed (stamp .venv/.setup-stamp).
# Usage: scripts/setup.sh [studio|test|package]
#   studio   Qt's X/GL libraries and fonts (+ Xvfb when there is no display); extras studio,postgres,sse
#   test     + PostgreSQL server, Xvfb, xdotool, binutils, desktop-file-utils; extras
#            studio,postgres,sse,dev,packaging,bench,otel,metrics
#   package  + binutils (PyInstaller needs objcopy and strip); extras studio,postgres,packaging
# Environment: PYTHON=/path/to/python3.x picks the interpreter; WEAVEGRAPH_SKIP_APT=1 skips the Debian step.
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-studio}"
case "$purpose" in
studio) extras="studio,postgres,sse" ;;
test) extras="studio,postgres,sse,dev,packaging,bench,otel,metrics" ;;
package) extras="studio,postgres,packaging" ;;
*)
    echo "usage: scripts/setup.sh [studio|test|package]" >&2
    exit 2
    ;;
esac
say() { echo "setup: $*" >&2; }

# ---------------------------------------------------------------- Debian packages

# Qt from the PySide6 wheels, offscreen and on a real X11 display, with fonts so text renders.
QT_PACKAGES="libgl1 libegl1 libx11-6 libx11-xcb1 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 libxkbcommon0
    libxkbcommon-x11-0 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
    libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0
    libxcb-xkb1 fontconfig fonts-dejavu-core"

is_installed() {
    # Also accepts the 64-bit time_t renames of Debian 13 / Ubuntu 24.04 (libglib2.0-0 -> libglib2.0-0t64).
    local pkg
    for pkg in "$1" "$1t64"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" && return 0
    done
    return 1
}

apt_install() {
    # Installs the named packages that are missing. As root: apt-get update first (the package index of a fresh
    # machine or container is usually stale or empty), then one install; if that fails (a name this release
    # does not have), each package alone, so one bad name does not stop the others. Not root: prints the command.
    local missing=() pkg failed=()
    for pkg in "$@"; do is_installed "$pkg" || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        say "missing Debian packages; install them with:"
        say "  sudo apt-get install --no-install-recommends ${missing[*]}"
        return 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || say "apt-get update failed; trying with the current package index"
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/weavegraph-apt.log 2>&1; then
        for pkg in "${missing[@]}"; do
            apt-get install -y -qq --no-install-recommends "$pkg" >>/tmp/weavegraph-apt.log 2>&1 || failed+=("$pkg")
        done
    fi
    if [ ${#failed[@]} -gt 0 ]; then
        say "could not install: ${failed[*]} (see /tmp/weavegraph-apt.log)"
        return 1
    fi
    return 0
}

if [ "${WEAVEGRAPH_SKIP_APT:-0}" != 1 ] && command -v dpkg-query >/dev/null 2>&1; then
    wanted="$QT_PACKAGES"
    if [ "$purpose" = test ]; then
        wanted="$wanted xvfb xauth xdotool binutils desktop-file-utils" # xdotool: the studio's real-X11 key tests
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 ||
            wanted="$wanted postgresql"
    elif [ "$purpose" = package ]; then
        wanted="$wanted binutils"
    elif [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
        wanted="$wanted xvfb xauth" # no display: scripts/studio.sh runs the studio under xvfb-run
    fi
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt_install $wanted || say "continuing; the parts that need those packages may fail"
fi

# ---------------------------------------------------------------- Python and the virtualenv

find_python() {
    local cand
    for cand in "${PYTHON:-}" python3.14 python3.13 python3.12 python3.11 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; then
            command -v "$cand"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' \
        >/dev/null 2>&1
}

if ! venv_ok; then
    PY=$(find_python) || {
        [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && apt_install python3 python3-venv || true
        PY=$(find_python) || {
            say "Python 3.11 or newer is needed (Debian: apt-get install python3 python3-venv; or set PYTHON=...)"
            exit 1
        }
    }
    if [ -e .venv ]; then
        say "recreating the broken virtualenv .venv"
        rm -rf .venv
    fi
    say "creating .venv with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    if ! "$PY" -m venv .venv >/tmp/weavegraph-venv.log 2>&1; then
        rm -rf .venv
        # Debian's Python ships venv's pip bootstrap (ensurepip) in python3-venv / python3.X-venv.
        ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt_install python3-venv || true
            is_installed "python$ver-venv" || apt_install "python$ver-venv" || true
        fi
        if ! "$PY" -m venv .venv >>/tmp/weavegraph-venv.log 2>&1; then
            rm -rf .venv
            say "'$PY -m venv' failed (log: /tmp/weavegraph-venv.log)."
            say "On Debian/Ubuntu install venv support and re-run: sudo apt-get install python$ver-venv"
            exit 1
        fi
    fi
fi

# ---------------------------------------------------------------- the project and its extras

# The stamp holds the hash of pyproject.toml and the extras installed; a purpose whose extras are all there
# skips pip entirely (so re-runs need no network), another one installs the union.
hash=$(sha256sum pyproject.toml | cut -c1-16)
have=""
if [ -f .venv/.setup-stamp ] && [ "$(head -n1 .venv/.setup-stamp)" = "$hash" ]; then
    have=$(sed -n 2p .venv/.setup-stamp)
fi
need=$(printf '%s\n' ${have//,/ } ${extras//,/ } | sort -u | paste -sd, -)
installed() { .venv/bin/python -c 'import importlib.metadata as m; m.version("weavegraph-studio")' >/dev/null 2>&1; }
if [ "$need" != "$have" ] || ! installed; then
    say "installing the project with extras [$need] into .venv (about a minute the first time)"
    pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
    # Build the editable install with the venv's own setuptools (no isolated build env to download).
    .venv/bin/python -c 'import sys, setuptools, wheel; sys.exit(int(setuptools.__version__.split(".")[0]) < 68)' \
        >/dev/null 2>&1 || "${pip[@]}" install "setuptools>=68" wheel
    "${pip[@]}" install --no-build-isolation -e ".[$need]"
    printf '%s\n%s\n' "$hash" "$need" >.venv/.setup-stamp
fi
