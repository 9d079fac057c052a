#!/usr/bin/env bash
# Response cache bench (issue #15): wrk -> tollgate -> mock, the same chat completion,
#   miss:  cache off (every request proxied to the mock)
#   hit:   `cache: true, type: local`, the entry made by one request before the load
# Like bench/run.sh, tollgate is pinned to one core (BENCH_CPU_PROXY, 0) and wrk + the mock to
# the other (BENCH_CPU_LOAD, 1); both gateways run side by side (only one is under load at a
# time) and the wrk runs alternate miss, hit, miss, hit, … (BENCH_ROUNDS rounds) so that drift
# on a shared VM hits both alike. Prints each run, then per configuration the median req/s and
# p50/p99 at c=BENCH_CONCURRENCY (16) and the p50 at c=1, and the hit/miss ratio of each round.
# Not in CI. Needs wrk, taskset and a release build (`cargo build --release -p bench -p
# gateway`, CARGO_TARGET_DIR honoured).
# Knobs: BENCH_DURATION (8s), BENCH_CONCURRENCY (16), BENCH_ROUNDS (3), BENCH_THREADS
# (tollgate threads, 1), BENCH_CPU_PROXY / BENCH_CPU_LOAD (empty: unpinned),
# BENCH_GENERAL_EXTRA (lines added under general_settings, e.g. "  disable_spend_logs: true").
set -euo pipefail
cd "$(dirname "$0")/.."
REL=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)
DUR=${BENCH_DURATION:-8s}
CONC=${BENCH_CONCURRENCY:-16}
ROUNDS=${BENCH_ROUNDS:-3}
THREADS=${BENCH_THREADS:-1}
CPU_PROXY=${BENCH_CPU_PROXY-0}
CPU_LOAD=${BENCH_CPU_LOAD-1}
MASTER_KEY=sk-bench-master
RUN=$(mktemp -d /tmp/tollgate-cache-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 400); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
PIN_PROXY=()
PIN_LOAD=()
if [[ $(nproc) -lt 2 ]] || ! command -v taskset >/dev/null; then
  echo "WARNING: fewer than 2 CPUs or no taskset: unpinned (numbers not comparable)" >&2
else
  [[ -n $CPU_PROXY ]] && PIN_PROXY=(taskset -c "$CPU_PROXY")
  [[ -n $CPU_LOAD ]] && PIN_LOAD=(taskset -c "$CPU_LOAD")
fi

"${PIN_LOAD[@]}" "$REL/mock-provider" --port 0 >"$RUN/mock.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  MOCK_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$RUN/mock.log")
  [[ -n $MOCK_PORT ]] && break
  sleep 0.05
done
BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
export BENCH_BODY=$BODY BENCH_KEY=$MASTER_KEY

declare -A PORT
start() { # name cache-yaml
  local p cfg
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
${BENCH_GENERAL_EXTRA:-}
tollgate_settings:
  host: 127.0.0.1
  port: $p
  threads: $THREADS
  database_path: $RUN/$1.db
$2
YAML
  (cd "$RUN" && RUST_LOG=warn exec "${PIN_PROXY[@]}" "$REL/tollgate" -c "$cfg" >"$RUN/$1.log" 2>&1) &
  PIDS+=($!)
  wait_port "$p" || { cat "$RUN/$1.log"; exit 1; }
  curl -s -o /dev/null -D "$RUN/$1.headers" -H "authorization: Bearer $MASTER_KEY" \
    -H 'content-type: application/json' -d "$BODY" "http://127.0.0.1:$p/v1/chat/completions"
  "${PIN_LOAD[@]}" wrk -t1 -c"$CONC" -d2s -s bench/scripts/wrk-post.lua \
    "http://127.0.0.1:$p/v1/chat/completions" >/dev/null
  PORT[$1]=$p
}
wrk_run() { # name concurrency duration -> one JSON line appended to $RUN/results
  "${PIN_LOAD[@]}" wrk -t1 -c"$2" -d"$3" --timeout 5s -s bench/scripts/wrk-post.lua \
    "http://127.0.0.1:${PORT[$1]}/v1/chat/completions" | sed -n "s/^WRKJSON /$1 $2 /p" >>"$RUN/results"
  tail -1 "$RUN/results"
}
start miss ""
start hit $'litellm_settings:\n  cache: true\n  cache_params:\n    type: local'
grep -qi '^x-litellm-cache-key' "$RUN/hit.headers" || { echo "the hit gateway did not cache" >&2; exit 1; }
for r in $(seq 1 "$ROUNDS"); do
  for name in miss hit; do wrk_run "$name" "$CONC" "$DUR" >/dev/null; done
done
for r in $(seq 1 "$ROUNDS"); do
  for name in miss hit; do wrk_run "$name" 1 4s >/dev/null; done
done
python3 - "$RUN/results" "$CONC" "$DUR" "$ROUNDS" "${CPU_PROXY:-none}" "${CPU_LOAD:-none}" <<'PY'
import json, statistics, sys
path, conc, dur, rounds, cpu_p, cpu_l = sys.argv[1:]
runs = {}
for line in open(path):
    name, c, w = line.split(" ", 2)
    w = json.loads(w)
    rps = w["requests"] / (w["duration_us"] / 1e6)
    bad = sum(w["errors"].values())
    runs.setdefault((name, int(c)), []).append((rps, w["latency_us"]["p50"], w["latency_us"]["p99"], bad))
for (name, c), rs in sorted(runs.items(), key=lambda kv: (kv[0][1] != int(conc), kv[0][0] != "miss")):
    for rps, p50, p99, bad in rs:
        print(f"{name:4} c={c:<3} req/s {rps:9.0f}  p50 {p50:6d} us  p99 {p99:6d} us  errors {bad}")
m, h = runs[("miss", int(conc))], runs[("hit", int(conc))]
ratios = [hh[0] / mm[0] for mm, hh in zip(m, h)]
med = lambda xs: statistics.median(xs)
print(f"\nc={conc}, {dur} x {rounds} alternated rounds; tollgate on CPU {cpu_p}, wrk + mock on CPU {cpu_l}")
print(f"miss: median {med([r[0] for r in m]):.0f} req/s, p50 {med([r[1] for r in m]):.0f} us, p99 {med([r[2] for r in m]):.0f} us")
print(f"hit:  median {med([r[0] for r in h]):.0f} req/s, p50 {med([r[1] for r in h]):.0f} us, p99 {med([r[2] for r in h]):.0f} us")
print("hit/miss req/s per round: " + ", ".join(f"{x:.2f}" for x in ratios) + f"  (median {med(ratios):.2f}; bar >= 2)")
m1, h1 = runs[("miss", 1)], runs[("hit", 1)]
print(f"c=1 p50: miss {med([r[1] for r in m1]):.0f} us, hit {med([r[1] for r in h1]):.0f} us (bar: hit <= miss)")
PY
