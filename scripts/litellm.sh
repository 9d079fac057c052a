#!/usr/bin/env bash
# Installs LiteLLM's database migrations (the PyPI package litellm-proxy-extras, pinned in
# tests/litellm/requirements.txt) into a virtualenv cached outside the clone, and exports the
# folder holding them as TOLLGATE_LITELLM_MIGRATIONS (sourced by scripts/test.sh). The e2e test
# of `tollgate import-litellm` applies `*/migration.sql` from it, in order, to build a real
# LiteLLM database. Nothing from the package is copied into the repository.
set -euo pipefail
# The e2e test runs the LiteLLM-shaped seed query through psql.
if ! command -v psql >/dev/null 2>&1; then
  echo "tollgate: installing postgresql-client (psql, for the import-litellm e2e test)" >&2
  if [ "$(id -u)" -eq 0 ]; then _llm_sudo=(); else _llm_sudo=(sudo); fi
  "${_llm_sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${_llm_sudo[@]}" apt-get install -y -qq postgresql-client >/dev/null
fi
_llm_req="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/litellm/requirements.txt"
_llm_venv=${TOLLGATE_LITELLM_VENV:-/var/tmp/tollgate-litellm-venv}
if [ ! -x "$_llm_venv/bin/python" ] || ! cmp -s "$_llm_req" "$_llm_venv/requirements.txt"; then
  python3 -m venv "$_llm_venv"
  "$_llm_venv/bin/pip" install -q --disable-pip-version-check -r "$_llm_req"
  cp "$_llm_req" "$_llm_venv/requirements.txt"
fi
TOLLGATE_LITELLM_MIGRATIONS="$("$_llm_venv/bin/python" -c \
  'import litellm_proxy_extras, os; print(os.path.join(os.path.dirname(litellm_proxy_extras.__file__), "migrations"))')"
export TOLLGATE_LITELLM_MIGRATIONS
