#!/usr/bin/env bash
# Scale-out: single events through nginx to one and to two `serve` processes on one
# PostgreSQL database, the plan limits shared between them, for an unlimited
# (SELF_HOSTED) project and a FREE one (20 requests/s, burst 40, for the whole
# deployment). Each round measures, in turn: /health through the balancer, events
# of the unlimited project to one process and to two, and the FREE project
# hammered far past its rate through two processes (every answer counts: the
# refusals are the limiter's work).
#
#   bench/scale.sh [BINARY]                     (default: target/release/telemetry-tracker)
#   ROUNDS=3 SECONDS_PER_RUN=10 CONNECTIONS=64 bench/scale.sh
#
# Needs nginx and wrk (installed from Debian when missing) and PostgreSQL on
# 127.0.0.1:5432 with trust authentication.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-target/release/telemetry-tracker}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-64}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}

for tool in nginx wrk; do
  command -v "$tool" >/dev/null || command -v "/usr/sbin/$tool" >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
  }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$BIN" ] || cargo build --release --quiet

source bench/lib.sh

work=$(mktemp -d)
name="tt_scale_$$"
cleanup() {
  cat "$work"/*.pid 2>/dev/null | xargs -r kill 2>/dev/null || true
  sleep 0.5
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$PG_ADMIN" -qc "CREATE DATABASE $name"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
tt() { "$BIN" --json --data-dir "$work" "$@"; }

read -r _ key_unlimited < <(seed_project "$BIN" "$work" self@example.com)
free_org=$(tt user create --email free@example.com --password 'benchmark password' --org Free | json_get '["org_id"]')
free_project=$(tt project create --org "$free_org" --name free | json_get '["id"]')
key_free=$(tt apikey create --project "$free_project" | json_get '["key"]')
tt org set-plan --org "$free_org" --plan FREE >/dev/null

ports=()
for i in 1 2; do
  port=$(free_port)
  RUST_LOG=warn RATE_LIMIT_API_MAX=0 RATE_LIMIT_INGEST_MAX=0 TELEMETRY_INSTANCE_ID="p$i" \
    "$BIN" serve --data-dir "$work" --port "$port" >"$work/p$i.log" 2>&1 &
  echo $! >"$work/p$i.pid"
  wait_healthy "http://127.0.0.1:$port"
  ports+=("$port")
done

one=$(free_port)
two=$(free_port)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  upstream one { server 127.0.0.1:${ports[0]}; keepalive 64; }
  upstream two { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; keepalive 64; }
  server {
    listen 127.0.0.1:$one;
    location / { proxy_pass http://one; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
  server {
    listen 127.0.0.1:$two;
    location / { proxy_pass http://two; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
"$NGINX" -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" -g 'daemon on;'
wait_healthy "http://127.0.0.1:$one"

measure() { # script port key path -> wrk's JSON line
  TT_KEY=$3 wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "bench/lua/$1.lua" "http://127.0.0.1:$2$4" | tail -n1
}

lines=()
for round in $(seq 1 "$ROUNDS"); do
  h=$(measure health "$one" "" /health)
  e1=$(measure event "$one" "$key_unlimited" /ingest/event)
  e2=$(measure event "$two" "$key_unlimited" /ingest/event)
  f2=$(measure event "$two" "$key_free" /ingest/event)
  lines+=("$h" "$e1" "$e2" "$f2")
  echo "round $round done" >&2
done

# Each process wrote its share: the balancer reached both.
committed=()
for port in "${ports[@]}"; do
  committed+=("$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^telemetry_ingest_committed_items_total/ {print $2}')")
done

python3 - "$ROUNDS" "$SECONDS_PER_RUN" "${committed[*]}" "${lines[@]}" <<'PY'
import json, sys
rounds, secs = int(sys.argv[1]), float(sys.argv[2])
committed = [int(float(c)) for c in sys.argv[3].split()]
runs = [json.loads(a) for a in sys.argv[4:]]
def col(i):
    return runs[i::4]
def ok(rs):
    return sum(r["requests"] - r["non_2xx"] for r in rs) / sum(r["seconds"] for r in rs)
def answered(rs):
    return sum(r["requests"] for r in rs) / sum(r["seconds"] for r in rs)
health, one, two, free = col(0), col(1), col(2), col(3)
accepted = sum(r["requests"] - r["non_2xx"] for r in free)
elapsed = sum(r["seconds"] for r in free)
print(f"\n## Scale-out through nginx, {rounds} rounds × {secs:.0f} s, PostgreSQL\n")
print("| measure | requests/s | note |\n|---|---|---|")
print(f"| /health through nginx | {ok(health):.0f} | the ceiling of balancer + HTTP |")
print(f"| single events, unlimited project, one process | {ok(one):.0f} | {100*ok(one)/ok(health):.0f} % of /health |")
print(f"| single events, unlimited project, two processes | {ok(two):.0f} | {ok(two)/ok(one):.3f} × one process |")
print(f"| FREE project far past its rate, two processes: answers | {answered(free):.0f} | every answer, 204 or 429 |")
print(f"| FREE project: accepted | {accepted/elapsed:.1f} | plan: 20/s + a burst of 40 per idle spell, for both processes together |")
for name, rs in (("one", one), ("two", two)):
    per_round = " / ".join("%.0f" % ((r["requests"] - r["non_2xx"]) / r["seconds"]) for r in rs)
    print(f"| events per round, {name} process(es) | {per_round} | |")
print(f"| items committed by each process | {' / '.join(map(str, committed))} | |")

# What must hold, whatever the speed: nothing refused or lost for the unlimited
# project, both processes used, and the FREE rate kept by the two together (its
# rate over the run plus one burst per round, and a lease per process).
problems = []
if any(r["non_2xx"] or r["socket_errors"] for r in one + two + health):
    problems.append("the unlimited project or /health got errors")
if min(committed) == 0:
    problems.append("a process committed nothing: the balancer did not reach it")
allowed = 20 * elapsed + 40 * rounds + 2 * 2 * rounds
if accepted > allowed:
    problems.append(f"the FREE project got {accepted} requests in, more than {allowed:.0f}")
for p in problems:
    print("FAILED:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
