#!/usr/bin/env bash
# Instructions per keep-alive request, counted by callgrind (for machines without hardware
# counters for `perf stat`). The gateway BIN (threads: 1) serves N1, then in a second run N2
# sequential requests on one keep-alive connection from a mock provider; per request =
# (Ir(N2) - Ir(N1)) / (N2 - N1) per thread, which cancels start-up and shutdown. The proxy
# worker is the busiest thread; the control-plane threads (spend writer, SQLite) come next.
# Deterministic to about ±0.2% on the proxy thread; alternate two binaries to compare.
#
# Environment: CACHE=on turns the response cache on (`litellm_settings.cache: true`, local);
# UNIQUE=1 makes every request's prompt different (a counter), so that with the cache on each
# one is a miss (compare with CACHE=off UNIQUE=1: the same bodies, no cache).
#
# usage: bench/scripts/callgrind-per-request.sh BIN MOCK_PROVIDER_BIN OUTDIR N1 N2 [stream]
#   CG_EXTRA_YAML (optional): YAML appended to the generated config (top-level sections such as
#   `litellm_settings:` with callbacks), for A/B of a feature against the same binary.
#   e.g. bench/scripts/callgrind-per-request.sh target/release/tollgate \
#          target/release/mock-provider /tmp/cg-a 300 2300
# Optional environment:
#   CG_DB=FILE        start each run from a copy of this SQLite database (e.g. 100,000 keys made
#                     by bench/scripts/make-keys-db.py)
#   CG_KEYS=FILE      one virtual key a line: request i uses line i (mod the count) instead of
#                     the master key
#   CG_TOLLGATE=LINES extra `tollgate_settings` lines (e.g. "  metrics: false")
#   CG_PARAMS=LINES   extra `litellm_params` lines of the deployment (6 spaces of indent, e.g.
#                     "      input_cost_per_token: 0.000001")
#   CG_GENERAL=LINES  extra `general_settings` lines (e.g. "  proxy_batch_write_at: 1")
#   bench/scripts/callgrind-bar.sh runs the DESIGN §4 bar's configuration with these.
set -euo pipefail
BIN=$1; MOCK=$2; D=$3; N1=$4; N2=$5; STREAM=${6:-false}
rm -rf "$D"; mkdir -p "$D"
"$MOCK" --port 0 > "$D/mock.out" 2>&1 &
MPID=$!
trap 'kill $MPID 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening on" "$D/mock.out" && break; sleep 0.1; done
MADDR=$(grep -o "listening on [0-9.:]*" "$D/mock.out" | awk '{print $3}')
cat > "$D/client.py" <<'PY'
import json, socket, sys, time
port, n, stream = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "true"
keys = open(sys.argv[4]).read().split() if len(sys.argv) > 4 and sys.argv[4] else ["sk-bench"]
unique = len(sys.argv) > 5 and sys.argv[5] == "1"
def request(i):
    text = f"Say hello. {i:08d}" if unique else "Say hello."
    body = json.dumps({"model": "bench-model", "max_tokens": 16, "stream": stream,
                       "messages": [{"role": "user", "content": text}]}).encode()
    return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {keys[i % len(keys)]}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
deadline = time.time() + 300
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.2)
f = s.makefile("rb")
for i in range(n + 1):  # +1: a warm-up request in both runs
    s.sendall(request(i))
    status = f.readline()
    assert status.startswith(b"HTTP/1.1 200"), status
    headers = {}
    while (line := f.readline()) not in (b"\r\n", b""):
        k, v = line.decode().split(":", 1); headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        f.read(int(headers["content-length"]))
    else:
        while (size := int(f.readline().split(b";")[0], 16)) > 0:
            f.read(size + 2)
        f.read(2)
PY
run() {
  local n=$1
  local port
  port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
  cat > "$D/cfg-$n.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://$MADDR/v1
      api_key: sk-x
${CG_PARAMS:-}
general_settings:
  master_key: sk-bench
${CG_GENERAL:-}
tollgate_settings:
  host: 127.0.0.1
  port: $port
  threads: 1
  database_path: $D/db-$n.sqlite
${CG_TOLLGATE:-}
YAML
  if [ -n "${CG_DB:-}" ]; then cp "$CG_DB" "$D/db-$n.sqlite"; fi
  printf '%s\n' "${CG_EXTRA_YAML:-}" >> "$D/cfg-$n.yaml"
  if [ "${CACHE:-off}" = on ]; then
    printf 'litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n' >> "$D/cfg-$n.yaml"
  fi
  TOLLGATE_LOG=info valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$D/cg-$n.out" "$BIN" -c "$D/cfg-$n.yaml" > "$D/gw-$n.log" 2>&1 &
  local gpid=$!
  for _ in $(seq 1200); do grep -q "listening on" "$D/gw-$n.log" && break; sleep 0.1; done
  python3 "$D/client.py" "$port" "$n" "$STREAM" "${CG_KEYS:-}" "${UNIQUE:-0}"
  kill -INT $gpid; wait $gpid || true
}
run "$N1"; run "$N2"
python3 - "$D" "$N1" "$N2" <<'PY'
import glob, sys
d, n1, n2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def totals(n):
    out = {}
    for f in glob.glob(f"{d}/cg-{n}.out-*"):
        for line in open(f, errors="replace"):
            if line.startswith(("summary:", "totals:")):
                out[int(f.rsplit("-", 1)[1])] = int(line.split()[1]); break
    return out
a, b = totals(n1), totals(n2)
per = sorted(((b.get(t, 0) - a.get(t, 0)) / (n2 - n1) for t in set(a) | set(b)), reverse=True)
print(f"instructions/request: all threads {sum(per):.0f}, busiest threads {[round(p) for p in per[:3]]}")
PY
