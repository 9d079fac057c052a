#!/usr/bin/env bash
# The admin UI's checks (sourced by scripts/test.sh):
# 1. the built assets committed in ui/dist are those the sources in ui/ build (npm ci + npm run
#    build with the lockfile's versions, then no difference), so `cargo build` never needs Node;
# 2. the real-browser e2e's tools: Debian's Chromium (apt) and playwright-core (npm, pinned in
#    tests/ui/package-lock.json) installed in a cache outside the clone; exports
#    TOLLGATE_CHROMIUM and TOLLGATE_UI_E2E_DIR for tests/e2e/ui_browser.rs.
set -euo pipefail
_ui_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -eq 0 ]; then _ui_sudo=(); else _ui_sudo=(sudo); fi
_ui_need=()
command -v npm >/dev/null 2>&1 || _ui_need+=(nodejs npm)
[ -x /usr/bin/chromium ] || _ui_need+=(chromium)
# Text in the screenshots needs a font.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || _ui_need+=(fonts-dejavu-core)
if [ ${#_ui_need[@]} -gt 0 ]; then
  echo "tollgate: installing for the admin UI checks: ${_ui_need[*]}" >&2
  "${_ui_sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${_ui_sudo[@]}" apt-get install -y -qq "${_ui_need[@]}" >/dev/null
fi

(
  cd "$_ui_root/ui"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  npm run --silent build >/dev/null
)
if ! git -C "$_ui_root" diff --quiet -- ui/dist || [ -n "$(git -C "$_ui_root" status --porcelain -- ui/dist)" ]; then
  echo "tollgate: ui/dist is not what ui/ builds: run 'cd ui && npm ci && npm run build' and commit ui/dist" >&2
  git -C "$_ui_root" status --short -- ui/dist >&2
  exit 1
fi

_ui_dir=${TOLLGATE_UI_E2E_DIR:-/var/tmp/tollgate-ui-e2e}
if ! cmp -s "$_ui_root/tests/ui/package-lock.json" "$_ui_dir/package-lock.json" \
  || [ ! -d "$_ui_dir/node_modules/playwright-core" ]; then
  mkdir -p "$_ui_dir"
  cp "$_ui_root/tests/ui/package.json" "$_ui_root/tests/ui/package-lock.json" "$_ui_dir/"
  (cd "$_ui_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
export TOLLGATE_UI_E2E_DIR="$_ui_dir"
export TOLLGATE_CHROMIUM=/usr/bin/chromium
