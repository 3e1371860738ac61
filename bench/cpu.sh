#!/usr/bin/env bash
# Where the CPU goes per request: one build on a fresh SQLite database, /health and
# single events in alternating runs, each reported with the server's and wrk's CPU
# time per request (from /proc) and the share of the machine left idle. Per-request
# CPU moves far less between runs than requests/s does on this VM, so it shows
# whether a change made the server cheaper even when throughput noise hides it.
#
#   bench/cpu.sh [BINARY] [SECONDS_PER_RUN] [ROUNDS]
#   CONNECTIONS=128 bench/cpu.sh target/release/telemetry-tracker 5 3
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/telemetry-tracker}
SECONDS_PER_RUN=${2:-5}
ROUNDS=${3:-3}
CONNECTIONS=${CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

source bench/lib.sh
dir=$(mktemp -d)
read -r _ TT_KEY < <(seed_project "$BIN" "$dir" cpu@example.com)
export TT_KEY
port=$(free_port)
RUST_LOG=warn RATE_LIMIT_API_MAX=0 "$BIN" serve --data-dir "$dir" --port "$port" >"$dir/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
wait_healthy "http://127.0.0.1:$port"

server_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
# idle and total jiffies of the whole machine
machine() { awk '/^cpu / {print $5, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat; }

measure() { # script path
  local s0 s1 m0 m1 out
  s0=$(server_ticks); m0=$(machine)
  out=$( { /usr/bin/time -f 'TIME %U %S' wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" \
    -s "bench/lua/$1.lua" "http://127.0.0.1:$port$2" | tail -n1; } 2>&1)
  s1=$(server_ticks); m1=$(machine)
  python3 - "$1" "$out" "$s0" "$s1" "$m0" "$m1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
name, out, s0, s1, m0, m1, hz = sys.argv[1:8]
lines = out.strip().split("\n")
run = json.loads(next(l for l in lines if l.startswith("{")))
user, system = map(float, next(l for l in lines if l.startswith("TIME")).split()[1:])
n, secs, hz = run["requests"], run["seconds"], int(hz)
server = (int(s1) - int(s0)) / hz
(i0, t0), (i1, t1) = (map(int, m.split()) for m in (m0, m1))
print(f'{name:7s} {run["ok_per_s"]:9.0f}/s   server {server * 1e6 / n:5.1f} µs/request ({server / secs:.2f} cores)'
      f'   wrk {(user + system) * 1e6 / n:4.1f} µs/request ({(user + system) / secs:.2f} cores)'
      f'   machine idle {100 * (i1 - i0) / (t1 - t0):.0f} %   non-2xx {run["non_2xx"]}')
PY
}

for _ in $(seq 1 "$ROUNDS"); do
  measure health /health
  measure event /ingest/event
done
