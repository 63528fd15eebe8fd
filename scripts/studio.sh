#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh studio) and starts Weavegraph Studio with the example graph and a
# local SQLite database. Extra arguments go to weavegraph-studio.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh studio
exec .venv/bin/weavegraph-studio "$@"
