#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, adapter fixtures and end-to-end tests
# against the real binary with mock providers on 127.0.0.1.
# PostgreSQL/Redis tests read DATABASE_URL / REDIS_URL; under CI=true an unreachable server is
# a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

reachable() { # host port
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
check_service() { # name url default_port
  local name=$1 url=$2 port=$3 host
  host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+).*#\2#' <<<"$url")
  local p
  p=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#p' <<<"$url")
  if ! reachable "$host" "${p:-$port}"; then
    if [ "${CI:-}" = "true" ]; then
      echo "tollgate tests: $name at $url is unreachable (CI requires it)" >&2
      exit 1
    fi
    echo "tollgate tests: warning: $name at $url is unreachable; tests needing it will fail" >&2
  fi
}
[ -n "${DATABASE_URL:-}" ] && check_service PostgreSQL "$DATABASE_URL" 5432
[ -n "${REDIS_URL:-}" ] && check_service Redis "$REDIS_URL" 6379

# The real Claude Code and Codex CLIs for the coding-agent e2e tests (TOLLGATE_*_BIN).
source scripts/clis.sh
# LiteLLM's database migrations for the import e2e test (TOLLGATE_LITELLM_MIGRATIONS).
source scripts/litellm.sh
# The real embedding model for the semantic cache e2e tests (TOLLGATE_EMBED_PYTHON).
source scripts/embed.sh
# The admin UI: ui/dist current with ui/ (npm ci + build, no diff), and the browser e2e's
# Chromium and playwright-core (TOLLGATE_CHROMIUM, TOLLGATE_UI_E2E_DIR).
source scripts/ui.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

# The official OpenAI and Anthropic Python SDKs against the real binary (tests/sdk/).
cargo build --workspace --bins --locked
VENV=${TOLLGATE_SDK_VENV:-/var/tmp/tollgate-sdk-venv}
if [ ! -x "$VENV/bin/pytest" ] || ! cmp -s tests/sdk/requirements.txt "$VENV/requirements.txt"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r tests/sdk/requirements.txt
  cp tests/sdk/requirements.txt "$VENV/requirements.txt"
fi
"$VENV/bin/pytest" -q -p no:cacheprovider tests/sdk
