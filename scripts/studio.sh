#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh studio) and starts Weavegraph Studio with the example graph and a local
# SQLite database (in the user's data directory). Extra arguments go to weavegraph-studio (FILE, --db URL, ...).
# Without a display ($DISPLAY and $WAYLAND_DISPLAY unset) the studio runs under xvfb-run when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh studio
studio=(.venv/bin/weavegraph-studio "$@")
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ -n "${QT_QPA_PLATFORM:-}" ]; then
    exec "${studio[@]}"
fi
if command -v xvfb-run >/dev/null 2>&1; then
    echo "studio: no display (\$DISPLAY and \$WAYLAND_DISPLAY are unset): starting on a virtual X display" \
        "(xvfb-run); the window is not visible. Stop it with Ctrl+C." >&2
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "${studio[@]}"
fi
cat >&2 <<'MSG'
studio: no display: $DISPLAY and $WAYLAND_DISPLAY are unset, and xvfb-run is not installed.
  - On a desktop, run this from a terminal inside the graphical session (or ssh -X).
  - Headless: install Xvfb (as root: apt-get install xvfb xauth; scripts/setup.sh does it when run as root)
    and re-run, or run without a window: QT_QPA_PLATFORM=offscreen bash scripts/studio.sh --self-test
MSG
exit 1
