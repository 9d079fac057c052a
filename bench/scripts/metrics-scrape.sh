#!/usr/bin/env bash
# The metrics exposition at its caps: a release Tollgate over a database of many keys
# (bench/scripts/make-keys-db.py) gets requests from KEYS distinct keys (more than
# tollgate_settings.metrics_max_series, so every table fills and overflows into `other`), then
# /metrics is scraped 20 times while a client keeps sending requests: prints the exposition's size,
# the scrape times, and the request latency with and without scrapes running.
#
# usage: bench/scripts/metrics-scrape.sh BIN MOCK_PROVIDER_BIN DB KEYS_FILE KEYS OUTDIR
set -euo pipefail
BIN=$1; MOCK=$2; DB=$3; KEYS_FILE=$4; NKEYS=$5; D=$6
rm -rf "$D"; mkdir -p "$D"
"$MOCK" --port 0 > "$D/mock.out" 2>&1 &
MPID=$!
trap 'kill $MPID 2>/dev/null || true; kill ${GPID:-} 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening on" "$D/mock.out" && break; sleep 0.1; done
MADDR=$(grep -o "listening on [0-9.:]*" "$D/mock.out" | awk '{print $3}')
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cp "$DB" "$D/db.sqlite"
cat > "$D/cfg.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://$MADDR/v1
      api_key: sk-x
general_settings:
  master_key: sk-bench
tollgate_settings:
  host: 127.0.0.1
  port: $PORT
  threads: 1
  database_path: $D/db.sqlite
YAML
TOLLGATE_LOG=warn "$BIN" -c "$D/cfg.yaml" > "$D/gw.log" 2>&1 &
GPID=$!
python3 - "$PORT" "$KEYS_FILE" "$NKEYS" <<'PY'
import http.client, json, multiprocessing, sys, time
port, keys, n = int(sys.argv[1]), open(sys.argv[2]).read().split()[: int(sys.argv[3])], int(sys.argv[3])
body = json.dumps({"model": "bench-model", "max_tokens": 16,
                   "messages": [{"role": "user", "content": "Say hello."}]})
def conn():
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30); c.connect(); return c
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gateway did not start")
c = conn()
def call(c, key):
    t = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
    return time.perf_counter() - t
for k in keys:
    call(c, k)
def latencies(seconds):
    out, end = [], time.time() + seconds
    while time.time() < end:
        out.append(call(c, keys[len(out) % len(keys)]))
    return out
quiet = latencies(3)
def scraper(stop, out):
    # Its own process: reading megabytes must not hold the client's interpreter.
    s, times, size = conn(), [], 0
    while not stop.is_set():
        t = time.perf_counter(); s.request("GET", "/metrics"); r = s.getresponse(); size = len(r.read())
        times.append(time.perf_counter() - t)
    out.put((times, size))
stop, out = multiprocessing.Event(), multiprocessing.Queue()
proc = multiprocessing.Process(target=scraper, args=(stop, out)); proc.start()
busy = latencies(3)
stop.set(); scrapes, size = out.get(); proc.join(); size = [size]
q = lambda xs, p: sorted(xs)[int(p * (len(xs) - 1))] * 1000
print(f"keys {n}: exposition {size[0] / 1e6:.2f} MB, {len(scrapes)} scrapes, "
      f"scrape p50 {q(scrapes, .5):.1f} ms max {max(scrapes) * 1000:.1f} ms; "
      f"request p50/p99 quiet {q(quiet, .5):.3f}/{q(quiet, .99):.3f} ms, "
      f"while scraping {q(busy, .5):.3f}/{q(busy, .99):.3f} ms")
PY
