#!/usr/bin/env bash
# Tollgate load/overhead harness. One command, 127.0.0.1 only, bounded in time.
#
#   bench/run.sh                       # full run (BENCH_DURATION=10s per scenario, ~5 min)
#   BENCH_QUICK=1 bench/run.sh         # smoke run (~1 min)
#
# Targets: direct (wrk -> mock), tollgate (wrk -> tollgate -> mock), nginx (wrk -> nginx -> mock).
# tollgate and nginx are pinned to CPU $BENCH_CPU_PROXY (0); mock, wrk and bench-ttft to
# $BENCH_CPU_LOAD (1). Results: a table on stdout, saved with the raw data under bench/out/.
# See bench/README.md for every knob and for how to read the numbers.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/out
QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  DURATION=${BENCH_DURATION:-2s}
  WARMUP=${BENCH_WARMUP:-1s}
  TTFT_REQUESTS=${BENCH_TTFT_REQUESTS:-40}
else
  DURATION=${BENCH_DURATION:-10s}
  WARMUP=${BENCH_WARMUP:-2s}
  TTFT_REQUESTS=${BENCH_TTFT_REQUESTS:-200}
fi
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64"}
TARGETS=${BENCH_TARGETS:-direct,tollgate,nginx}
STREAM_CHUNKS=${BENCH_STREAM_CHUNKS:-5}
TTFT_CHUNKS=${BENCH_TTFT_CHUNKS:-3}
TTFT_INTERVAL_MS=${BENCH_TTFT_INTERVAL_MS:-20}
CPU_PROXY=${BENCH_CPU_PROXY:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
MASTER_KEY=sk-bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REL=$TARGET_DIR/release

STAMP=$(date +%Y%m%d-%H%M%S)
RUN=$OUT/run-$STAMP
mkdir -p "$RUN"
RESULTS=$RUN/results.jsonl
: >"$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
# Appends one JSON object to the results: KEY=STRING and KEY:=JSON arguments.
emit() { python3 - "$RESULTS" "$@" <<'PY'
import json, sys
path, *pairs = sys.argv[1:]
obj = {}
for p in pairs:
    k, _, v = p.partition("=")
    if k.endswith(":"):
        try:
            obj[k[:-1]] = json.loads(v)
        except ValueError:
            obj[k[:-1]] = None
    else:
        obj[k] = v
with open(path, "a") as f:
    f.write(json.dumps(obj) + "\n")
PY
}

# ---------------------------------------------------------------- processes and cleanup
# Every server is started as `[taskset -c N] binary ... &` (no wrapper shell), so each pid in
# PIDS is the server itself; its descendants (nginx workers) are found at stop time.
PIDS=()
tree() { # pids -> those pids and all their descendants
  local p
  for p in "$@"; do
    echo "$p"
    # shellcheck disable=SC2046
    tree $(pgrep -P "$p" 2>/dev/null || true)
  done
}
# TERM the given pids, wait up to 5 s for them and their descendants, KILL what is left.
stop_pids() {
  local all pid alive
  [[ $# -gt 0 ]] || return 0
  all=$(tree "$@")
  kill -TERM "$@" 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive=0
    for pid in $all; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $all 2>/dev/null || true
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}
stop_pid() { stop_pids "$1"; }
cleanup() { stop_pids "${PIDS[@]}"; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# A free TCP port on 127.0.0.1 (asked from the kernel, then checked not listening).
free_port() {
  local port
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    if ! ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then echo "$port"; return; fi
  done
  die "no free port found"
}

# Waits until PID is alive and 127.0.0.1:PORT accepts connections (timeout seconds).
wait_port() {
  local pid=$1 port=$2 timeout=${3:-10} i
  for ((i = 0; i < timeout * 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  return 1
}

pin() { # pin CPU cmd...
  local cpu=$1; shift
  if [[ -n $cpu ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

seconds() { # 10s | 2m | 10 -> seconds
  case $1 in *m) echo $((${1%m} * 60)) ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac
}

# Sends one request; prints "STATUS BODY-PREFIX". Used to check a target really proxies.
probe() { # url body
  python3 - "$1" "$2" "$MASTER_KEY" <<'PY'
import sys, urllib.request, urllib.error
url, body, key = sys.argv[1:]
req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
    "content-type": "application/json", "authorization": "Bearer " + key})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status, r.read().decode(errors="replace").replace("\n", "\\n")[:4000])
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace").replace("\n", "\\n")[:500])
except Exception as e:
    print(0, repr(e))
PY
}

# utime + stime of a process (all threads) in clock ticks; empty when there is no such process.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
# Instructions retired by the proxy per request: repeatable where wall-clock numbers drift
# (this is a shared VM). Needs `perf` with hardware counters; skipped otherwise.
HAVE_PERF=0
if have perf && perf stat -x, -e instructions true 2>&1 | grep -qE '^[0-9]+,,instructions'; then
  HAVE_PERF=1
fi
cpu_ticks() {
  [[ -n ${1:-} && -r /proc/$1/stat ]] || return 0
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

rss_kb() { # pid field -> kB
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------- preflight
have wrk || die "wrk not found (apt-get install -y wrk)"
have python3 || die "python3 not found"
have pgrep && have ss || die "procps/iproute2 (pgrep, ss) not found"
NPROC=$(nproc)
if [[ $NPROC -lt 2 ]] || ! have taskset; then
  log "WARNING: fewer than 2 CPUs or no taskset: running unpinned (numbers not comparable)"
  CPU_PROXY=""
  CPU_LOAD=""
fi
PIN_PROXY=()
PIN_LOAD=()
[[ -n $CPU_PROXY ]] && PIN_PROXY=(taskset -c "$CPU_PROXY")
[[ -n $CPU_LOAD ]] && PIN_LOAD=(taskset -c "$CPU_LOAD")
IFS=',' read -r -a TARGET_LIST <<<"$TARGETS"
want() { [[ ",$TARGETS," == *",$1,"* ]]; }

LOADAVG=$(cut -d' ' -f1 /proc/loadavg)
# CPU busy share over one second (the load average lags by minutes).
BUSY_PCT=$(python3 -c '
import time
def snap():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return v[3] + v[4], sum(v)
i0, t0 = snap(); time.sleep(1); i1, t1 = snap()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))')
RUSTC=$(pgrep -x rustc -c 2>/dev/null || true)
if [[ ${RUSTC:-0} -gt 0 || $BUSY_PCT -gt 10 ]]; then
  log "WARNING: machine not idle (CPU ${BUSY_PCT}% busy, rustc processes: ${RUSTC:-0}): numbers will be noisy"
fi
emit kind=meta date="$(date -Iseconds)" quick:="$QUICK" duration="$DURATION" \
  concurrency="$CONCURRENCY" nproc:="$NPROC" \
  cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
  kernel="$(uname -r)" rustc="$(rustc --version 2>/dev/null || echo unknown)" \
  git="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  loadavg="$LOADAVG" busy_pct:="$BUSY_PCT" cpu_proxy="${CPU_PROXY:-none}" cpu_load="${CPU_LOAD:-none}" \
  stream_chunks:="$STREAM_CHUNKS" ttft_chunks:="$TTFT_CHUNKS" ttft_interval_ms:="$TTFT_INTERVAL_MS"

# ---------------------------------------------------------------- build
TOLLGATE_OK=0
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  log "building bench (release)"
  (cd "$ROOT" && cargo build --release -p bench) >"$RUN/build-bench.log" 2>&1 ||
    { tail -20 "$RUN/build-bench.log" >&2; die "cargo build --release -p bench failed"; }
  if want tollgate; then
    log "building gateway (release)"
    if (cd "$ROOT" && cargo build --release -p gateway) >"$RUN/build-gateway.log" 2>&1; then
      TOLLGATE_OK=1
    else
      log "SKIP tollgate: cargo build --release -p gateway failed (see $RUN/build-gateway.log)"
      emit kind=skip target=tollgate reason="gateway did not build"
    fi
  fi
else
  want tollgate && [[ -x $REL/tollgate ]] && TOLLGATE_OK=1
fi
TOLLGATE_BIN=${TOLLGATE_BIN:-$REL/tollgate}
MOCK_BIN=$REL/mock-provider
TTFT_BIN=$REL/bench-ttft
[[ -x $MOCK_BIN && -x $TTFT_BIN ]] || die "missing $MOCK_BIN or $TTFT_BIN"
if want tollgate && [[ $TOLLGATE_OK == 1 && ! -x $TOLLGATE_BIN ]]; then
  log "SKIP tollgate: $TOLLGATE_BIN not found"
  emit kind=skip target=tollgate reason="binary not found"
  TOLLGATE_OK=0
fi

# ---------------------------------------------------------------- mock provider
log "starting mock-provider on CPU ${CPU_LOAD:-any}"
"${PIN_LOAD[@]}" "$MOCK_BIN" --port 0 --chunks "$STREAM_CHUNKS" --chunk-interval-ms 0 \
  >"$RUN/mock.log" 2>&1 &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_PORT=""
for _ in $(seq 1 100); do
  MOCK_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$RUN/mock.log" 2>/dev/null || true)
  [[ -n $MOCK_PORT ]] && break
  kill -0 "$MOCK_PID" 2>/dev/null || break
  sleep 0.05
done
[[ -n $MOCK_PORT ]] || { cat "$RUN/mock.log" >&2; die "mock-provider did not start"; }
log "mock-provider pid $MOCK_PID on 127.0.0.1:$MOCK_PORT"

BODY='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}'
BODY_STREAM='{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16,"stream":true}'

# Checks that URL answers a chat completion and a stream correctly; prints why not.
check_target() { # name base-url
  local r
  r=$(probe "$2/chat/completions" "$BODY")
  if [[ $r != "200 "* || $r != *'"chat.completion"'* ]]; then
    echo "non-streaming probe got: ${r:0:300}"; return 1
  fi
  r=$(probe "$2/chat/completions" "$BODY_STREAM")
  if [[ $r != "200 "* || $r != *'[DONE]'* ]]; then
    echo "streaming probe got: ${r:0:300}"; return 1
  fi
}

# ---------------------------------------------------------------- load
run_wrk() { # target base-url mode conc duration [record]
  local target=$1 url=$2/chat/completions mode=$3 conc=$4 dur=$5 record=${6:-1} body=$BODY line
  [[ $mode == stream ]] && body=$BODY_STREAM
  local file=$RUN/wrk-$target-$mode-c$conc.txt
  [[ $record == 1 ]] || file=$RUN/wrk-warmup-$target.txt
  local p0 p1 m0 m1
  p0=$(cpu_ticks "$PROXY_PID")
  m0=$(cpu_ticks "$MOCK_PID")
  local perf_file=$RUN/perf-$target-$mode-c$conc.txt perf_pid="" instr=""
  if [[ $HAVE_PERF == 1 && -n $PROXY_PID && $record == 1 ]]; then
    perf stat -x, -e instructions -o "$perf_file" -p "$PROXY_PID" -- sleep "$(seconds "$dur")" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  # wrk's -d bounds the run; timeout(1) bounds a wedged target.
  BENCH_BODY=$body BENCH_KEY=$MASTER_KEY pin "$CPU_LOAD" \
    timeout --kill-after=5 $(($(seconds "$dur") + 30)) wrk -t1 -c"$conc" -d"$dur" --timeout 5s \
    -s "$BENCH/scripts/wrk-post.lua" "$url" >"$file" 2>&1 || true
  p1=$(cpu_ticks "$PROXY_PID")
  m1=$(cpu_ticks "$MOCK_PID")
  if [[ -n $perf_pid ]]; then
    wait "$perf_pid" || true
    instr=$(sed -nE 's/^([0-9]+),,instructions.*/\1/p' "$perf_file" | head -1)
  fi
  [[ $record == 1 ]] || return 0
  line=$(sed -n 's/^WRKJSON //p' "$file" | tail -1)
  if [[ -z $line ]]; then
    log "  $target $mode c=$conc: no result (see $file)"
    emit kind=wrk target="$target" mode="$mode" conc:="$conc" failed:=true
    return 0
  fi
  emit kind=wrk target="$target" mode="$mode" conc:="$conc" wrk:="$line" clk_tck:="$CLK_TCK" \
    proxy_ticks:="$([[ -n $p0 && -n $p1 ]] && echo $((p1 - p0)) || echo null)" \
    mock_ticks:="$([[ -n $m0 && -n $m1 ]] && echo $((m1 - m0)) || echo null)" \
    proxy_instructions:="${instr:-null}" perf_seconds:="$(seconds "$dur")"
  python3 -c '
import json,sys
w=json.loads(sys.argv[1]); rps=w["requests"]/(w["duration_us"]/1e6)
e=sum(w["errors"].values())
l=w["latency_us"]
print("  %-8s %-6s c=%-3s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d" % (sys.argv[2], sys.argv[3], sys.argv[4], rps, l["p50"]/1000, l["p99"]/1000, e))
' "$line" "$target" "$mode" "$conc" >&2
}

# PROXY_PID: the process whose CPU time is charged to the proxy (tollgate, the nginx worker).
PROXY_PID=""
run_target() { # target base-url pid-to-watch(optional)
  local target=$1 base=$2 pid=${3:-} mode conc out
  log "== $target ($base)"
  run_wrk "$target" "$base" plain 16 "$WARMUP" 0
  for mode in plain stream; do
    for conc in $CONCURRENCY; do
      run_wrk "$target" "$base" "$mode" "$conc" "$DURATION"
      if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
        log "  $target died during the run"
        emit kind=skip target="$target" reason="process died during load"
        return 1
      fi
    done
  done
  log "  TTFT: $TTFT_REQUESTS sequential streams, $TTFT_CHUNKS chunks x ${TTFT_INTERVAL_MS} ms"
  out=$(pin "$CPU_LOAD" timeout --kill-after=5 300 "$TTFT_BIN" --url "$base/chat/completions" \
    --requests "$TTFT_REQUESTS" --warmup 10 --key "$MASTER_KEY" --chunks "$TTFT_CHUNKS" \
    --chunk-interval-ms "$TTFT_INTERVAL_MS" --label "$target" 2>"$RUN/ttft-$target.err") || true
  if [[ -n $out ]]; then
    emit kind=ttft target="$target" ttft:="$out"
  else
    log "  TTFT failed: $(head -3 "$RUN/ttft-$target.err")"
  fi
}

for target in "${TARGET_LIST[@]}"; do
  case $target in
  direct)
    check_target direct "http://127.0.0.1:$MOCK_PORT/v1" >"$RUN/check-direct.txt" ||
      { cat "$RUN/check-direct.txt" >&2; die "mock-provider does not answer correctly"; }
    PROXY_PID=""
    run_target direct "http://127.0.0.1:$MOCK_PORT/v1" "$MOCK_PID" || true
    ;;
  tollgate)
    [[ $TOLLGATE_OK == 1 ]] || { log "== tollgate: skipped (not built)"; continue; }
    TG_PORT=$(free_port)
    CFG=$RUN/tollgate.yaml
    cat >"$CFG" <<EOF
# Generated by bench/run.sh: one model group on the mock provider.
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
  port: $TG_PORT
  threads: 1
EOF
    TG_ARGS_TEXT=${BENCH_TOLLGATE_ARGS:-"-c {config}"}
    read -r -a TG_ARGS <<<"${TG_ARGS_TEXT//\{config\}/$CFG}"
    log "starting tollgate on CPU ${CPU_PROXY:-any}: $TOLLGATE_BIN ${TG_ARGS[*]}"
    # exec twice (subshell -> taskset -> tollgate): $! is tollgate's own pid, for /proc reads.
    (cd "$RUN" && export RUST_LOG=${RUST_LOG:-warn} && exec "${PIN_PROXY[@]}" "$TOLLGATE_BIN" "${TG_ARGS[@]}") \
      >"$RUN/tollgate.log" 2>&1 &
    TG_PID=$!
    PIDS+=("$TG_PID")
    if ! wait_port "$TG_PID" "$TG_PORT" 20; then
      if kill -0 "$TG_PID" 2>/dev/null; then
        log "SKIP tollgate: it did not listen on 127.0.0.1:$TG_PORT within 20 s (log: $RUN/tollgate.log)"
      else
        log "SKIP tollgate: it exited at startup (log: $RUN/tollgate.log)"
      fi
      tail -5 "$RUN/tollgate.log" >&2 || true
      emit kind=skip target=tollgate reason="did not start listening"
      stop_pid "$TG_PID"
      continue
    fi
    if ! why=$(check_target tollgate "http://127.0.0.1:$TG_PORT/v1"); then
      log "SKIP tollgate: it does not serve chat completions yet: $why"
      emit kind=skip target=tollgate reason="probe failed: ${why:0:200}"
      stop_pid "$TG_PID"
      continue
    fi
    sleep 0.5
    log "tollgate pid $TG_PID on 127.0.0.1:$TG_PORT"
    emit kind=rss target=tollgate phase=idle rss_kb:="$(rss_kb "$TG_PID" VmRSS)" hwm_kb:="$(rss_kb "$TG_PID" VmHWM)"
    PROXY_PID=$TG_PID
    run_target tollgate "http://127.0.0.1:$TG_PORT/v1" "$TG_PID" || true
    PROXY_PID=""
    emit kind=rss target=tollgate phase=load rss_kb:="$(rss_kb "$TG_PID" VmRSS)" hwm_kb:="$(rss_kb "$TG_PID" VmHWM)"
    stop_pid "$TG_PID"
    ;;
  nginx)
    if ! have nginx; then
      log "== nginx: skipped (not installed; apt-get install -y nginx-light)"
      emit kind=skip target=nginx reason="nginx not installed"
      continue
    fi
    NG_PORT=$(free_port)
    mkdir -p "$RUN/nginx-tmp"
    cat >"$RUN/nginx.conf" <<EOF
# Generated by bench/run.sh: the reference reverse proxy (one worker, upstream keep-alive).
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $RUN/nginx-tmp/body;
  proxy_temp_path $RUN/nginx-tmp/proxy;
  fastcgi_temp_path $RUN/nginx-tmp/fastcgi;
  uwsgi_temp_path $RUN/nginx-tmp/uwsgi;
  scgi_temp_path $RUN/nginx-tmp/scgi;
  keepalive_requests 1000000;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:$NG_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
    log "starting nginx on CPU ${CPU_PROXY:-any}"
    "${PIN_PROXY[@]}" nginx -p "$RUN/" -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" -g 'daemon off;' \
      >"$RUN/nginx.log" 2>&1 &
    NG_PID=$!
    PIDS+=("$NG_PID")
    if ! wait_port "$NG_PID" "$NG_PORT" 10; then
      cat "$RUN/nginx.log" "$RUN/nginx-error.log" >&2 2>/dev/null || true
      log "SKIP nginx: did not start"
      emit kind=skip target=nginx reason="did not start"
      stop_pid "$NG_PID"
      continue
    fi
    why=$(check_target nginx "http://127.0.0.1:$NG_PORT/v1") ||
      { log "SKIP nginx: $why"; emit kind=skip target=nginx reason="probe failed"; stop_pid "$NG_PID"; continue; }
    NG_WORKER=$(pgrep -P "$NG_PID" | head -1)
    log "nginx master pid $NG_PID, worker pid ${NG_WORKER:-?}"
    emit kind=rss target=nginx phase=idle rss_kb:="$(rss_kb "$NG_WORKER" VmRSS)" hwm_kb:="$(rss_kb "$NG_WORKER" VmHWM)"
    PROXY_PID=$NG_WORKER
    run_target nginx "http://127.0.0.1:$NG_PORT/v1" "$NG_PID" || true
    PROXY_PID=""
    emit kind=rss target=nginx phase=load rss_kb:="$(rss_kb "$NG_WORKER" VmRSS)" hwm_kb:="$(rss_kb "$NG_WORKER" VmHWM)"
    stop_pid "$NG_PID"
    ;;
  *) die "unknown target $target (use direct, tollgate, nginx)" ;;
  esac
done

emit kind=mock_stats stats:="$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$MOCK_PORT/__mock/stats', timeout=5).read().decode())" 2>/dev/null || echo '{}')"

# ---------------------------------------------------------------- report
python3 "$BENCH/scripts/report.py" "$RESULTS" | tee "$RUN/report.md"
cp "$RUN/report.md" "$OUT/latest.md"
cp "$RESULTS" "$OUT/latest.jsonl"
log "saved $RUN/report.md (also bench/out/latest.md) and raw data $RESULTS"
