#!/usr/bin/env bash
# The cost of alerts on error ingest: one build, side by side (bench/ab.sh), with
# every alert kind off and no webhook (A) against every kind on, a low spike
# threshold that every one of the 100 groups reaches, and a generic webhook for
# all kinds (B), pointing at a local receiver that answers 200.
#
#   bench/alerts.sh [BINARY]        (default: target/release/telemetry-tracker)
#   BACKEND=postgres ROUNDS=3 bench/alerts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/telemetry-tracker}
source bench/lib.sh

receiver_port=$(free_port)
python3 - "$receiver_port" <<'PY' &
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Ok).serve_forever()
PY
receiver=$!
trap 'kill $receiver 2>/dev/null || true' EXIT

# Each side's server reads TELEMETRY_WEBHOOK_ALLOW_PRIVATE from the environment.
export TELEMETRY_WEBHOOK_ALLOW_PRIVATE=true
configure='token=$("$BIN" --json --data-dir "$DATA_DIR" token create --email "$EMAIL" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"token\"])")
api() { curl -sf -X "$1" "http://127.0.0.1:$PORT$2" -H "Authorization: Bearer $token" -H "Content-Type: application/json" -d "$3" >/dev/null; }'
export SETUP_A="$configure
api PUT /api/projects/\$PROJECT/alert-settings '{\"new_group\":false,\"regression\":false,\"spike\":{\"enabled\":false},\"quota\":{\"enabled\":false}}'"
export SETUP_B="$configure
api PUT /api/projects/\$PROJECT/alert-settings '{\"new_group\":true,\"regression\":true,\"spike\":{\"enabled\":true,\"threshold\":5,\"window_minutes\":15},\"quota\":{\"enabled\":true}}'
api POST /api/projects/\$PROJECT/webhooks '{\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"format\":\"generic\"}'"
bash bench/ab.sh "$BIN" "$BIN" errors
