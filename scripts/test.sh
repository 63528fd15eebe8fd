#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh test) and runs the whole test suite. Extra arguments go to pytest.
# Qt runs offscreen unless QT_QPA_PLATFORM says otherwise (e.g. QT_QPA_PLATFORM=xcb xvfb-run -a ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
exec .venv/bin/python -m pytest "$@"
