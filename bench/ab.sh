#!/usr/bin/env bash
# A/B of two builds: both servers run side by side on fresh databases (SQLite files,
# or with BACKEND=postgres a fresh database each on 127.0.0.1:5432) and take turns,
# round after round, so that the machine's drift weighs on both alike. Each round
# runs /health and then the load on A, then the same on B.
#
#   bench/ab.sh BINARY_A BINARY_B [event|batch|errors|mapped|sentry]     (default: event)
#   ROUNDS=5 SECONDS_PER_RUN=5 CONNECTIONS=64 bench/ab.sh old/telemetry-tracker target/release/telemetry-tracker
#   BACKEND=postgres bench/ab.sh A B event
#
# Prints every round and, per build, the mean items/s (for single events, also as a
# share of /health) and the ratios of B to A.
#
# SETUP_A / SETUP_B: a command run once its server is up, with BIN, DATA_DIR, PORT,
# PROJECT, KEY and EMAIL in its environment (and DATABASE_URL on PostgreSQL), to
# compare one build under two configurations (bench/alerts.sh does).
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { sed -n 2,8p "$0" >&2; exit 2; }
LOAD=${3:-event}
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
CONNECTIONS=${CONNECTIONS:-64}
BACKEND=${BACKEND:-sqlite}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
case $LOAD in
  event) path=/ingest/event ;;
  batch) path=/ingest/batch ;;
  errors) path=/ingest/error; export STACK_BYTES=${STACK_BYTES:-3000} ;;
  mapped) path=/ingest/error ;;
  sentry) path=/api/1/envelope/ ;;
  *) echo "unknown load: $LOAD" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
# start() runs in a subshell, so the servers' pids are kept in files.
cleanup() {
  cat "$work"/*/pid 2>/dev/null | xargs -r kill 2>/dev/null || true
  if [ "$BACKEND" = postgres ]; then
    sleep 0.5
    for side in a b; do psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tt_ab_$$_$side WITH (FORCE)" || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT

source bench/lib.sh

start() { # name binary -> "port key"
  local dir="$work/$1" bin=$2 project key port
  mkdir -p "$dir"
  if [ "$BACKEND" = postgres ]; then
    local name="tt_ab_$$_$1"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -qc "CREATE DATABASE $name" >&2
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$name"
  else
    unset DATABASE_URL
  fi
  read -r project key < <(seed_project "$bin" "$dir" ab@example.com)
  port=$(free_port)
  RUST_LOG=warn RATE_LIMIT_API_MAX=0 "$bin" serve --data-dir "$dir" --port "$port" >"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  wait_healthy "http://127.0.0.1:$port"
  local setup_var="SETUP_${1^^}"
  if [ -n "${!setup_var:-}" ]; then
    BIN=$bin DATA_DIR=$dir PORT=$port PROJECT=$project KEY=$key EMAIL=ab@example.com \
      bash -c "${!setup_var}" >&2
  fi
  echo "$port $key"
}

read -r port_a key_a < <(start a "$1")
read -r port_b key_b < <(start b "$2")

rate() { # script port key -> items/s
  TT_KEY=$3 wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" -s "bench/lua/$1.lua" "http://127.0.0.1:$2$4" \
    | tail -n1 | json_get '["items_per_s"]'
}

declare -A health=([a]=0 [b]=0) load=([a]=0 [b]=0)
for round in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    if [ $side = a ]; then port=$port_a key=$key_a; else port=$port_b key=$key_b; fi
    h=$(rate health "$port" "$key" /health)
    l=$(rate "$LOAD" "$port" "$key" "$path")
    printf 'round %d %s: /health %.0f, %s %.0f\n' "$round" "$side" "$h" "$LOAD" "$l"
    health[$side]=$(python3 -c "print(${health[$side]} + $h)")
    load[$side]=$(python3 -c "print(${load[$side]} + $l)")
  done
done
for side in a b; do
  python3 -c "h, l = ${health[$side]}, ${load[$side]}; print(f'$side: /health {h/$ROUNDS:.0f}/s, $LOAD {l/$ROUNDS:.0f} items/s' + (f', {100*l/h:.1f} % of /health' if '$LOAD' == 'event' else ''))"
done
python3 -c "print(f'b/a: $LOAD {${load[b]}/${load[a]}:.3f}, /health {${health[b]}/${health[a]}:.3f}')"
