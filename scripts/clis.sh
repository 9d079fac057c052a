#!/usr/bin/env bash
# Installs the coding-agent CLIs the e2e tests drive (Claude Code, OpenAI Codex; versions pinned
# in tests/cli/package.json) from the npm registry into a cache outside the clone, and exports
# their paths as TOLLGATE_CLAUDE_BIN and TOLLGATE_CODEX_BIN (sourced by scripts/test.sh).
# Both packages ship native binaries; Node.js and npm are only needed to install them.
set -euo pipefail
_clis_src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/cli/package.json"
_clis_dir=${TOLLGATE_CLI_DIR:-/var/tmp/tollgate-clis}
if ! cmp -s "$_clis_src" "$_clis_dir/package.json" || [ ! -x "$_clis_dir/node_modules/.bin/claude" ] \
  || [ ! -x "$_clis_dir/node_modules/.bin/codex" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "tollgate: installing Node.js and npm (for the coding-agent CLI tests)" >&2
    if [ "$(id -u)" -eq 0 ]; then _sudo=(); else _sudo=(sudo); fi
    "${_sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${_sudo[@]}" apt-get install -y -qq nodejs npm >/dev/null
  fi
  mkdir -p "$_clis_dir"
  cp "$_clis_src" "$_clis_dir/package.json"
  (cd "$_clis_dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
export TOLLGATE_CLAUDE_BIN="$_clis_dir/node_modules/.bin/claude"
export TOLLGATE_CODEX_BIN="$_clis_dir/node_modules/.bin/codex"
