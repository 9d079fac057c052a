#!/usr/bin/env bash
# Response cache bench (issue #15): wrk -> tollgate -> mock at c=16, the same chat completion,
#   miss:  cache off (every request proxied to the mock)
#   hit:   `cache: true, type: local`, the entry made by one request before the load
# and prints req/s and latency percentiles of each. Not in CI. Needs wrk and a release build
# (`cargo build --release -p bench -p gateway`, CARGO_TARGET_DIR honoured).
# Knobs: BENCH_DURATION (10s), BENCH_CONCURRENCY (16), BENCH_THREADS (tollgate threads, 1).
set -euo pipefail
cd "$(dirname "$0")/.."
REL=${CARGO_TARGET_DIR:-target}/release
DUR=${BENCH_DURATION:-10s}
CONC=${BENCH_CONCURRENCY:-16}
THREADS=${BENCH_THREADS:-1}
MASTER_KEY=sk-bench-master
RUN=$(mktemp -d /tmp/tollgate-cache-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

"$REL/mock-provider" --port 0 >"$RUN/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  MOCK_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$RUN/mock.log")
  [[ -n $MOCK_PORT ]] && break
  sleep 0.05
done
BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
export BENCH_BODY=$BODY BENCH_KEY=$MASTER_KEY

run() { # name cache-yaml
  local p cfg pid line
  p=$(port)
  cfg=$RUN/$1.yaml
  cat >"$cfg" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: sk-mock
general_settings:
  master_key: $MASTER_KEY
tollgate_settings:
  host: 127.0.0.1
  port: $p
  threads: $THREADS
$2
YAML
  RUST_LOG=warn "$REL/tollgate" -c "$cfg" >"$RUN/$1.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_port "$p" || { cat "$RUN/$1.log"; exit 1; }
  curl -s -o /dev/null -D "$RUN/$1.headers" -H "authorization: Bearer $MASTER_KEY" \
    -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$p/v1/chat/completions"
  wrk -t1 -c"$CONC" -d2s -s bench/scripts/wrk-post.lua "http://127.0.0.1:$p/v1/chat/completions" >/dev/null
  line=$(wrk -t1 -c"$CONC" -d"$DUR" --timeout 5s -s bench/scripts/wrk-post.lua \
    "http://127.0.0.1:$p/v1/chat/completions" | sed -n 's/^WRKJSON //p')
  kill "$pid"
  python3 - "$1" "$line" <<'PY'
import json, sys
name, w = sys.argv[1], json.loads(sys.argv[2])
rps = w["requests"] / (w["duration_us"] / 1e6)
l = w["latency_us"]
bad = sum(w["errors"].values())
print(f"{name:5} req/s {rps:9.0f}  p50 {l['p50']:6d} us  p99 {l['p99']:6d} us  errors {bad}")
PY
}
run miss ""
run hit $'litellm_settings:\n  cache: true\n  cache_params:\n    type: local'
echo "(c=$CONC, $DUR each, tollgate threads $THREADS; hit: every request answered from the cache)"
