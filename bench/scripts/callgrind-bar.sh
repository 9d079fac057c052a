#!/usr/bin/env bash
# Instructions per request in the DESIGN §4 bar's configuration, under callgrind: virtual keys
# with budgets and rpm/tpm/parallel limits (bench-keys; every check runs, none refuses), a
# priced deployment (every request has a cost, reservations and a spend delta), spend logs
# flushed every second, metrics on (the default) and one logging callback on (a generic
# webhook, message logging on, posting to a local receiver that answers 200).
#
# usage: bench/scripts/callgrind-bar.sh BIN MOCK_PROVIDER_BIN BENCH_KEYS_BIN OUTDIR N1 N2 [stream]
#   BAR_KEYS (default 10000): keys in the database (the request path's cost does not depend
#   on the count: one hash lookup; 100,000 only makes each callgrind start slower).
# Prints callgrind-per-request.sh's line: all threads, then the busiest threads (the proxy
# worker first, then the control-plane thread: spend writer, SQLite, callback senders).
set -euo pipefail
BIN=$1; MOCK=$2; KEYS_BIN=$3; D=$4; N1=$5; N2=$6; STREAM=${7:-false}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$D.setup"
rm -f "$D.setup/keys.sqlite"*
"$KEYS_BIN" --db "$D.setup/keys.sqlite" --count "${BAR_KEYS:-10000}" --prefix sk-bench- \
  > "$D.setup/key.txt" 2> "$D.setup/bench-keys.log"
python3 - "$D.setup/receiver.port" > "$D.setup/receiver.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
PY
RPID=$!
trap 'kill $RPID 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$D.setup/receiver.port" ] && break; sleep 0.1; done
RPORT=$(cat "$D.setup/receiver.port")
CG_DB="$D.setup/keys.sqlite" CG_KEYS="$D.setup/key.txt" \
CG_PARAMS="      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002" \
CG_GENERAL="  proxy_batch_write_at: 1" \
CG_EXTRA_YAML="litellm_settings:
  callbacks: [\"bar_webhook\"]
callback_settings:
  bar_webhook:
    callback_type: generic_api
    endpoint: http://127.0.0.1:$RPORT/ingest" \
  "$HERE/callgrind-per-request.sh" "$BIN" "$MOCK" "$D" "$N1" "$N2" "$STREAM"
