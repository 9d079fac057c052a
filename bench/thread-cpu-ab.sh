#!/usr/bin/env bash
# A/B of CPU per request, thread by thread: two gateway binaries (or one binary with two
# configs), alternated ROUNDS times under the same wrk load, each run reading
# /proc/PID/task/*/stat before and after. For changes whose cost lands on a background thread
# (the spend writer, the Redis sync) that a latency harness run cannot see.
#
#   bench/thread-cpu-ab.sh BIN_A CONF_A BIN_B CONF_B [ROUNDS] [CONCURRENCY] [DURATION] [stream]
#
# CONF_* are gateway configs with the placeholders MOCKPORT (the mock provider's port) and
# DBPATH (a fresh SQLite file per run; the host and port are set here); the model is `bench-model`
# and wrk sends `Authorization: Bearer $BENCH_KEY` (default sk-bench). The gateway is pinned to
# CPU $BENCH_CPU_PROXY (0), mock and wrk to $BENCH_CPU_LOAD (1), as in bench/run.sh. Needs the
# release mock-provider (cargo build --release -p bench) and wrk. Prints one line per run:
# req/s, p99, CPU µs per request for the whole process, peak RSS, and the five busiest threads.
set -euo pipefail
[[ $# -ge 4 ]] || { sed -n 2,15p "$0"; exit 2; }
BIN_A=$1 CONF_A=$2 BIN_B=$3 CONF_B=$4
ROUNDS=${5:-3} CONC=${6:-64} DURATION=${7:-10s} STREAM=${8:-}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOCK_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/mock-provider
CPU_PROXY=${BENCH_CPU_PROXY:-0} CPU_LOAD=${BENCH_CPU_LOAD:-1}
KEY=${BENCH_KEY:-sk-bench}
W=$(mktemp -d /tmp/tollgate-ab.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

taskset -c "$CPU_LOAD" "$MOCK_BIN" --port 0 --chunks 5 --chunk-interval-ms 0 >"$W/mock.log" 2>&1 &
PIDS+=($!)
MOCK_PORT=""
for _ in $(seq 100); do
  MOCK_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$W/mock.log")
  [[ -n $MOCK_PORT ]] && break
  sleep 0.05
done
[[ -n $MOCK_PORT ]] || { cat "$W/mock.log" >&2; exit 1; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
[[ -n $STREAM ]] && BODY=${BODY%\}}',"stream":true}'

# "thread-name ticks" per thread name, summed.
thread_ticks() {
  for t in /proc/"$1"/task/*; do
    local name stat
    name=$(tr ' ' '_' <"$t/comm" 2>/dev/null) || continue
    stat=$(cat "$t/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    # Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the comm.
    awk -v n="$name" '{print n, $12 + $13}' <<<"$stat"
  done | awk '{a[$1] += $2} END {for (k in a) print k, a[k]}'
}

load() { # duration output
  BENCH_BODY=$BODY BENCH_KEY=$KEY taskset -c "$CPU_LOAD" wrk -t1 -c"$CONC" -d"$1" \
    -s "$ROOT/bench/scripts/wrk-post.lua" "http://127.0.0.1:$PORT/v1/chat/completions" >"$2"
}

run_one() { # label bin conf
  local label=$1 bin=$2 conf=$3 db=$W/$1.db pid rss
  rm -f "$db" "$db-wal" "$db-shm"
  sed "s#MOCKPORT#$MOCK_PORT#; s#DBPATH#$db#" "$conf" >"$W/$label.yaml"
  taskset -c "$CPU_PROXY" "$bin" -c "$W/$label.yaml" --host 127.0.0.1 --port "$PORT" \
    >"$W/$label.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/health/liveliness" && break
    sleep 0.05
  done
  load 2s /dev/null
  thread_ticks "$pid" >"$W/before"
  load "$DURATION" "$W/wrk.txt"
  thread_ticks "$pid" >"$W/after"
  rss=$(awk '/VmHWM/ {print $2}' /proc/"$pid"/status)
  kill -INT "$pid"
  wait "$pid" || true
  python3 - "$label" "$W/before" "$W/after" "$W/wrk.txt" "$rss" <<'PY'
import json, os, sys
label, before, after, wrk, rss = sys.argv[1:]
tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
read = lambda f: {l.split()[0]: int(l.split()[1]) for l in open(f) if l.strip()}
b, a = read(before), read(after)
j = next(json.loads(l[8:]) for l in open(wrk) if l.startswith("WRKJSON "))
n = j["requests"]
per = {k: (v - b.get(k, 0)) * tick_us / n for k, v in a.items()}
top = sorted(per.items(), key=lambda kv: -kv[1])[:5]
print(f"{label} req/s={n / (j['duration_us'] / 1e6):7.0f} p99={j['latency_us']['p99'] / 1000:6.2f}ms "
      f"cpu/req={sum(per.values()):6.1f}us peakRSS={int(rss) // 1024}MiB errors={j['errors']['status']} | "
      + " ".join(f"{k}={v:.1f}" for k, v in top))
PY
}

for _ in $(seq "$ROUNDS"); do
  run_one A "$BIN_A" "$CONF_A"
  run_one B "$BIN_B" "$CONF_B"
done
rm -rf "$W"
