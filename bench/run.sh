#!/usr/bin/env bash
# Tollgate load/overhead harness. One command, 127.0.0.1 only, bounded in time.
#
#   bench/run.sh                       # full run (BENCH_DURATION=10s per scenario, ~5 min)
#   BENCH_QUICK=1 bench/run.sh         # smoke run (~1 min)
#
# Targets: direct (wrk -> mock), tollgate (wrk -> tollgate -> mock), nginx (wrk -> nginx -> mock),
# and two tollgate variants for the cost of keys, budgets, limits and spend logging:
# tollgate-noauth (no master key, no prices) and tollgate-keys (master key, BENCH_KEYS_COUNT
# virtual keys preloaded by bench-keys, priced deployment, spend logs flushed every second; wrk
# sends a virtual key).  BENCH_TARGETS=direct,tollgate-noauth,tollgate-keys bench/run.sh
# tollgate* and nginx are pinned to CPU $BENCH_CPU_PROXY (0); mock, wrk and bench-ttft to
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
KEYS_COUNT=${BENCH_KEYS_COUNT:-100000}
KEY_PREFIX=sk-bench-
# The virtual key wrk sends to tollgate-keys (bench-keys prints it; same shape until then).
# tollgate-noauth gets the same header, so both parse identical requests.
VKEY=${KEY_PREFIX}050000
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
probe() { # url body [key, default the master key; "" = no Authorization header]
  python3 - "$1" "$2" "${3-$MASTER_KEY}" <<'PY'
import sys, urllib.request, urllib.error
url, body, key = sys.argv[1:]
headers = {"content-type": "application/json"}
if key:
    headers["authorization"] = "Bearer " + key
req = urllib.request.Request(url, data=body.encode(), method="POST", headers=headers)
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
for target in "${TARGET_LIST[@]}"; do
  case $target in direct | tollgate | tollgate-noauth | tollgate-keys | nginx) ;;
  *) die "unknown target $target (use direct, tollgate, tollgate-noauth, tollgate-keys, nginx)" ;;
  esac
done
want() { [[ ",$TARGETS," == *",$1,"* ]]; }
want_tollgate() { want tollgate || want tollgate-noauth || want tollgate-keys; }

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
# bench and gateway are built in one cargo invocation when a tollgate target is wanted (two
# invocations unify features differently and rebuild shared dependencies each time); if that
# fails, bench alone, and the tollgate targets are skipped.
TOLLGATE_OK=0
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  if want_tollgate; then
    log "building bench and gateway (release)"
    if (cd "$ROOT" && cargo build --release -p bench -p gateway) >"$RUN/build-gateway.log" 2>&1; then
      TOLLGATE_OK=1
    else
      log "SKIP tollgate targets: cargo build --release -p gateway failed (see $RUN/build-gateway.log)"
      for target in "${TARGET_LIST[@]}"; do
        [[ $target == tollgate* ]] && emit kind=skip target="$target" reason="gateway did not build"
      done
    fi
  fi
  if [[ $TOLLGATE_OK != 1 ]]; then
    log "building bench (release)"
    (cd "$ROOT" && cargo build --release -p bench) >"$RUN/build-bench.log" 2>&1 ||
      { tail -20 "$RUN/build-bench.log" >&2; die "cargo build --release -p bench failed"; }
  fi
else
  want_tollgate && [[ -x $REL/tollgate ]] && TOLLGATE_OK=1
fi
TOLLGATE_BIN=${TOLLGATE_BIN:-$REL/tollgate}
MOCK_BIN=$REL/mock-provider
TTFT_BIN=$REL/bench-ttft
KEYS_BIN=$REL/bench-keys
[[ -x $MOCK_BIN && -x $TTFT_BIN ]] || die "missing $MOCK_BIN or $TTFT_BIN"
if want_tollgate && [[ $TOLLGATE_OK == 1 && ! -x $TOLLGATE_BIN ]]; then
  log "SKIP tollgate targets: $TOLLGATE_BIN not found"
  for target in "${TARGET_LIST[@]}"; do
    [[ $target == tollgate* ]] && emit kind=skip target="$target" reason="binary not found"
  done
  TOLLGATE_OK=0
fi

# ---------------------------------------------------------------- keys database
# tollgate-keys: a fresh SQLite file with KEYS_COUNT virtual keys (budgets and limits that
# never trip), written before anything is measured.
KEYS_DB=$RUN/keys.db
KEYS_OK=0
if want tollgate-keys && [[ $TOLLGATE_OK == 1 ]]; then
  if [[ ! -x $KEYS_BIN ]]; then
    log "SKIP tollgate-keys: $KEYS_BIN not found"
    emit kind=skip target=tollgate-keys reason="bench-keys not found"
  else
    log "writing $KEYS_COUNT virtual keys to $KEYS_DB (bench-keys)"
    t0=$(date +%s.%N)
    if key=$("$KEYS_BIN" --db "$KEYS_DB" --count "$KEYS_COUNT" --prefix "$KEY_PREFIX" 2>"$RUN/bench-keys.log") &&
      [[ -n $key ]]; then
      VKEY=$key
      KEYS_OK=1
      t1=$(date +%s.%N)
      log "  $(tail -1 "$RUN/bench-keys.log" | sed 's/^bench-keys: //'); key to send: $VKEY"
      emit kind=keys_db count:="$KEYS_COUNT" seconds:="$(python3 -c "print(round($t1 - $t0, 2))")" \
        key="$VKEY" db_bytes:="$(stat -c %s "$KEYS_DB" 2>/dev/null || echo null)"
    else
      cat "$RUN/bench-keys.log" >&2
      log "SKIP tollgate-keys: bench-keys failed"
      emit kind=skip target=tollgate-keys reason="bench-keys failed"
    fi
  fi
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
check_target() { # name base-url [key]
  local r
  r=$(probe "$2/chat/completions" "$BODY" "${3:-$MASTER_KEY}")
  if [[ $r != "200 "* || $r != *'"chat.completion"'* ]]; then
    echo "non-streaming probe got: ${r:0:300}"; return 1
  fi
  r=$(probe "$2/chat/completions" "$BODY_STREAM" "${3:-$MASTER_KEY}")
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
  BENCH_BODY=$body BENCH_KEY=$CUR_KEY pin "$CPU_LOAD" \
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
# CUR_KEY: the bearer token wrk and bench-ttft send to the current target.
CUR_KEY=$MASTER_KEY
run_target() { # target base-url pid-to-watch(optional) key(optional)
  local target=$1 base=$2 pid=${3:-} mode conc out
  CUR_KEY=${4:-$MASTER_KEY}
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
    --requests "$TTFT_REQUESTS" --warmup 10 --key "$CUR_KEY" --chunks "$TTFT_CHUNKS" \
    --chunk-interval-ms "$TTFT_INTERVAL_MS" --label "$target" 2>"$RUN/ttft-$target.err") || true
  if [[ -n $out ]]; then
    printf '%s\n' "$out" >"$RUN/ttft-$target.out"
    emit kind=ttft target="$target" ttft:="$out"
  else
    log "  TTFT failed: $(head -3 "$RUN/ttft-$target.err")"
  fi
}

# ---------------------------------------------------------------- tollgate
# The generated configuration of one tollgate target, on stdout.
#   tollgate         master key, database in the run directory (the gateway's cwd)
#   tollgate-noauth  no master key (nothing checked), no prices, its own database file
#   tollgate-keys    master key, the bench-keys database, prices on the deployment (every
#                    request has a cost, a reservation and a spend log row), spend flushed
#                    every second
tollgate_config() { # target port
  local target=$1 port=$2
  cat <<EOF
# Generated by bench/run.sh ($target): one model group on the mock provider.
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$MOCK_PORT/v1
      api_key: sk-mock
EOF
  if [[ $target == tollgate-keys ]]; then
    printf '      input_cost_per_token: 0.000001\n      output_cost_per_token: 0.000002\n'
  fi
  case $target in
  tollgate) printf 'general_settings:\n  master_key: %s\n' "$MASTER_KEY" ;;
  tollgate-keys) printf 'general_settings:\n  master_key: %s\n  proxy_batch_write_at: 1\n' "$MASTER_KEY" ;;
  esac
  cat <<EOF
tollgate_settings:
  host: 127.0.0.1
  port: $port
  threads: 1
EOF
  case $target in
  tollgate-noauth) echo "  database_path: $RUN/noauth.db" ;;
  tollgate-keys) echo "  database_path: $KEYS_DB" ;;
  esac
}

# Before the load, tollgate-keys must really enforce: no key and a wrong key are refused with
# 401 (the virtual key's 200 is check_target's probe). Prints why not.
check_keys_enforced() { # base-url
  local r
  r=$(probe "$1/chat/completions" "$BODY" "${KEY_PREFIX}wrong-key")
  [[ $r == "401 "* ]] || { echo "a wrong key got: ${r:0:200} (expected 401)"; return 1; }
  r=$(probe "$1/chat/completions" "$BODY" "")
  [[ $r == "401 "* ]] || { echo "no key got: ${r:0:200} (expected 401)"; return 1; }
}

# After the run (gateway stopped, so everything is flushed): spend log rows and the key's spend
# in the database, against the requests wrk and bench-ttft completed. Emits kind=spend.
check_spend() { # target db key
  local target=$1 db=$2 key=$3 out
  out=$(python3 - "$db" "$key" "$RUN" "$target" <<'PY'
import glob, hashlib, json, os, sqlite3, sys
db, key, run, target = sys.argv[1:]
token = hashlib.sha256(key.encode()).hexdigest()
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows, ok, spend = con.execute(
    "SELECT COUNT(*), COALESCE(SUM(status = 'success'), 0), COALESCE(SUM(spend), 0) "
    "FROM tollgate_spend_logs").fetchone()
keyed = con.execute("SELECT COUNT(*) FROM tollgate_spend_logs WHERE api_key = ?",
                    (token,)).fetchone()[0]
ent = con.execute("SELECT spend FROM tollgate_entities WHERE kind = 'key' AND id = ?",
                  (token,)).fetchone()
keys = con.execute(
    "SELECT COUNT(*) FROM tollgate_entities WHERE kind = 'key' AND deleted = 0").fetchone()[0]
sent = 0
files = glob.glob(os.path.join(run, f"wrk-{target}-*.txt"))
files.append(os.path.join(run, f"wrk-warmup-{target}.txt"))
for f in files:
    try:
        for line in open(f):
            if line.startswith("WRKJSON "):
                sent += json.loads(line[8:])["requests"]
    except OSError:
        pass
try:
    t = json.loads(open(os.path.join(run, f"ttft-{target}.out")).read())
    sent += t["requests"] + 10  # + bench-ttft's warm-up
except (OSError, ValueError, KeyError):
    pass
print(json.dumps({"log_rows": rows, "success_rows": ok, "keyed_rows": keyed,
                  "logged_spend": spend, "key_spend": ent[0] if ent else None,
                  "keys_in_db": keys, "completed_requests": sent,
                  "db_bytes": os.path.getsize(db)}))
PY
  ) || { log "  spend check failed (cannot read $db)"; return 0; }
  emit kind=spend target="$target" spend:="$out"
  python3 -c '
import json, sys
s = json.loads(sys.argv[1])
print("  spend logs: %(log_rows)d rows (%(success_rows)d success, %(keyed_rows)d for the key); "
      "wrk + bench-ttft completed %(completed_requests)d requests; logged spend $%(logged_spend).4f, "
      "key spend in tollgate_entities $%(key_spend)s; %(keys_in_db)d keys" % s)' "$out" >&2
}

# Starts one tollgate target with its generated configuration, checks it, measures it
# (run_target with KEY as the bearer token), records RSS idle and after load, stops it.
run_tollgate() { # target key
  local target=$1 key=$2 port cfg pid t0 t1 why args_text limit=20
  local -a args
  port=$(free_port)
  cfg=$RUN/$target.yaml
  tollgate_config "$target" "$port" >"$cfg"
  args_text=${BENCH_TOLLGATE_ARGS:-"-c {config}"}
  read -r -a args <<<"${args_text//\{config\}/$cfg}"
  [[ $target == tollgate-keys ]] && limit=120 # loads every key before listening
  log "starting $target on CPU ${CPU_PROXY:-any}: $TOLLGATE_BIN ${args[*]}"
  t0=$(date +%s.%N)
  # exec twice (subshell -> taskset -> tollgate): $! is tollgate's own pid, for /proc reads.
  (cd "$RUN" && export RUST_LOG=${RUST_LOG:-warn} && exec "${PIN_PROXY[@]}" "$TOLLGATE_BIN" "${args[@]}") \
    >"$RUN/$target.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  if ! wait_port "$pid" "$port" "$limit"; then
    if kill -0 "$pid" 2>/dev/null; then
      log "SKIP $target: it did not listen on 127.0.0.1:$port within $limit s (log: $RUN/$target.log)"
    else
      log "SKIP $target: it exited at startup (log: $RUN/$target.log)"
    fi
    tail -5 "$RUN/$target.log" >&2 || true
    emit kind=skip target="$target" reason="did not start listening"
    stop_pid "$pid"
    return 1
  fi
  t1=$(date +%s.%N)
  if ! why=$(check_target "$target" "http://127.0.0.1:$port/v1" "$key"); then
    log "SKIP $target: it does not serve chat completions yet: $why"
    emit kind=skip target="$target" reason="probe failed: ${why:0:200}"
    stop_pid "$pid"
    return 1
  fi
  if [[ $target == tollgate-keys ]]; then
    if ! why=$(check_keys_enforced "http://127.0.0.1:$port/v1"); then
      log "SKIP $target: keys are not enforced: $why"
      emit kind=skip target="$target" reason="not enforcing: ${why:0:200}"
      stop_pid "$pid"
      return 1
    fi
    log "  enforced: no key and a wrong key get 401, $key gets 200"
  fi
  sleep 0.5
  local startup
  startup=$(python3 -c "print(round($t1 - $t0, 3))")
  log "$target pid $pid on 127.0.0.1:$port (listening $startup s after start)"
  emit kind=rss target="$target" phase=idle rss_kb:="$(rss_kb "$pid" VmRSS)" \
    hwm_kb:="$(rss_kb "$pid" VmHWM)" startup_s:="$startup"
  PROXY_PID=$pid
  run_target "$target" "http://127.0.0.1:$port/v1" "$pid" "$key" || true
  PROXY_PID=""
  emit kind=rss target="$target" phase=load rss_kb:="$(rss_kb "$pid" VmRSS)" hwm_kb:="$(rss_kb "$pid" VmHWM)"
  stop_pid "$pid"
  [[ $target == tollgate-keys ]] && check_spend "$target" "$KEYS_DB" "$key"
  if grep -qiE 'error|panic' "$RUN/$target.log"; then
    log "  $target log: $(grep -ciE 'error|panic' "$RUN/$target.log") lines with error/panic (see $RUN/$target.log)"
  fi
  # A full run leaves ~1M spend log rows (0.5-1 GB) in each of these files.
  if [[ ${BENCH_KEEP_DB:-0} != 1 ]]; then
    case $target in
    tollgate-noauth) rm -f "$RUN/noauth.db" "$RUN/noauth.db-wal" "$RUN/noauth.db-shm" ;;
    tollgate-keys) rm -f "$KEYS_DB" "$KEYS_DB-wal" "$KEYS_DB-shm" ;;
    esac
  fi
  return 0
}

for target in "${TARGET_LIST[@]}"; do
  case $target in
  direct)
    check_target direct "http://127.0.0.1:$MOCK_PORT/v1" >"$RUN/check-direct.txt" ||
      { cat "$RUN/check-direct.txt" >&2; die "mock-provider does not answer correctly"; }
    PROXY_PID=""
    run_target direct "http://127.0.0.1:$MOCK_PORT/v1" "$MOCK_PID" || true
    ;;
  tollgate | tollgate-noauth)
    [[ $TOLLGATE_OK == 1 ]] || { log "== $target: skipped (not built)"; continue; }
    # tollgate sends the master key; tollgate-noauth the virtual key's text (not checked), so
    # that it parses the same request bytes as tollgate-keys.
    if [[ $target == tollgate ]]; then run_tollgate "$target" "$MASTER_KEY" || true
    else run_tollgate "$target" "$VKEY" || true; fi
    ;;
  tollgate-keys)
    [[ $TOLLGATE_OK == 1 && $KEYS_OK == 1 ]] ||
      { log "== $target: skipped (not built or no keys database)"; continue; }
    run_tollgate "$target" "$VKEY" || true
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
  esac
done

emit kind=mock_stats stats:="$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$MOCK_PORT/__mock/stats', timeout=5).read().decode())" 2>/dev/null || echo '{}')"

# ---------------------------------------------------------------- report
python3 "$BENCH/scripts/report.py" "$RESULTS" | tee "$RUN/report.md"
cp "$RUN/report.md" "$OUT/latest.md"
cp "$RESULTS" "$OUT/latest.jsonl"
log "saved $RUN/report.md (also bench/out/latest.md) and raw data $RESULTS"
