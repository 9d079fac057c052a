#!/usr/bin/env bash
# Builds and runs Tollgate on conf/config.yaml (or the file given with -c); extra flags are
# passed through, e.g. scripts/run.sh --port 8080.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release -p gateway
if [[ " $* " == *" -c "* || " $* " == *" --config "* ]]; then
  exec "${CARGO_TARGET_DIR:-target}/release/tollgate" "$@"
fi
exec "${CARGO_TARGET_DIR:-target}/release/tollgate" -c conf/config.yaml "$@"
