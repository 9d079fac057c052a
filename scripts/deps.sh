#!/usr/bin/env bash
# Installs what building Tollgate needs on a fresh Debian/Ubuntu machine (sourced by run.sh and
# test.sh). pingora-core builds zlib-ng with cmake; a C compiler is needed too.
set -euo pipefail

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v make >/dev/null 2>&1 || need+=(make)
# The SDK tests (tests/sdk) run the official Python clients in a virtualenv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
# The metrics e2e test (tests/e2e/metrics_prometheus.rs) scrapes Tollgate with a real Prometheus
# and checks the exposition with promtool.
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  echo "tollgate: installing build dependencies: ${need[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
  if command -v apt-get >/dev/null 2>&1; then
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "tollgate: please install: ${need[*]} (no apt-get here)" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "tollgate: cargo not found; install Rust from https://rustup.rs" >&2
  exit 1
fi
