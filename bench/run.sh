#!/usr/bin/env bash
# Ingest benchmark: /health as the ceiling, then single events, 100-event batches,
# errors with 2–4 KB and 50 KB stacks over 100 groups, and latency at a fixed
# 2 000 requests/s — on SQLite and PostgreSQL, in one run on this machine.
#
#   bench/run.sh [sqlite|postgres|both]      (default: both)
#   DURATION=10 CONNECTIONS=64 ROUNDS=5 bench/run.sh
#
# /health and single events are measured in ROUNDS alternating slices of
# DURATION/ROUNDS seconds each, so that drift in the machine's speed (a shared VM's
# neighbours) weighs on the ceiling and on the events alike.
#
# Only acknowledged (2xx) ingest requests are counted: the server answers 204 only
# after the data is committed. The stored row counts are read back afterwards as a
# cross-check. Results go to stdout and bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${1:-both}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-5}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
export PATH="$HOME/.cargo/bin:$PATH"

need() {
  command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  command -v oha >/dev/null || cargo install oha --locked --quiet
}

source bench/lib.sh

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
peak_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

wrk_run() { # script, path[, seconds]
  wrk -t1 -c"$CONNECTIONS" -d"${3:-$DURATION}s" --latency -s "bench/lua/$1.lua" "$BASE$2" | tail -n1
}

# /health and single events in alternating slices; prints one JSON object per
# measure (summed over the slices) and the ratio of each slice pair.
health_and_events() {
  local slice=$(( (DURATION + ROUNDS - 1) / ROUNDS )) lines=()
  for _ in $(seq 1 "$ROUNDS"); do
    lines+=("$(wrk_run health /health "$slice")" "$(wrk_run event /ingest/event "$slice")")
  done
  python3 - "${lines[@]}" <<'PY'
import json, sys
runs = [json.loads(a) for a in sys.argv[1:]]
def total(rs):
    secs = sum(r["seconds"] for r in rs)
    ok = sum(r["requests"] - r["non_2xx"] for r in rs)
    return {"requests": sum(r["requests"] for r in rs), "non_2xx": sum(r["non_2xx"] for r in rs),
            "seconds": secs, "ok_per_s": ok / secs, "items_per_s": ok / secs,
            "p99_ms": max(r["p99_ms"] for r in rs)}
health, event = runs[0::2], runs[1::2]
print(json.dumps(total(health)))
print(json.dumps(total(event)))
print(json.dumps([round(100 * e["ok_per_s"] / h["ok_per_s"]) for h, e in zip(health, event)]))
PY
}

run_backend() {
  local backend=$1 dir url=""
  dir=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    local name="tt_bench_$$"
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -qc "CREATE DATABASE $name"
    url="postgres://postgres@127.0.0.1:5432/$name"
  fi
  tt() { DATABASE_URL="$url" ./target/release/telemetry-tracker --json --data-dir "$dir" "$@"; }

  local project key token port pid
  read -r project key < <(DATABASE_URL="$url" seed_project ./target/release/telemetry-tracker "$dir" bench@example.com)
  token=$(tt token create --email bench@example.com | json_get '["token"]')
  port=$(free_port)
  BASE="http://127.0.0.1:$port"
  export TT_KEY=$key

  if [ -n "$url" ]; then export DATABASE_URL=$url; else unset DATABASE_URL; fi
  RUST_LOG=warn RATE_LIMIT_API_MAX=0 ./target/release/telemetry-tracker serve --data-dir "$dir" --port "$port" &
  pid=$!
  wait_healthy "$BASE"
  sleep 2
  local idle_rss; idle_rss=$(rss_kb "$pid")
  # The largest the SQLite write-ahead log gets during the run (it must stay bounded).
  local wal_log="$dir/wal-sizes"
  ( while kill -0 "$pid" 2>/dev/null; do stat -c %s "$dir/telemetry.db-wal" 2>/dev/null || echo 0; sleep 0.5; done ) >"$wal_log" &

  local health event slices batch errors big latency measured
  measured=$(health_and_events)
  health=$(sed -n 1p <<<"$measured")
  event=$(sed -n 2p <<<"$measured")
  slices=$(sed -n 3p <<<"$measured")
  batch=$(wrk_run batch /ingest/batch)
  errors=$(STACK_BYTES=3000 wrk_run errors /ingest/error)
  big=$(STACK_BYTES=51200 wrk_run errors /ingest/error)
  local body; body=$(python3 -c 'import json; print(json.dumps({"app":"web-shop","name":"page_view","properties":{"path":"/pricing"}}))')
  latency=$(oha --no-tui --output-format json -z "${DURATION}s" -q 2000 -c 50 -m POST \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$body" "$BASE/ingest/event")
  local peak_rss; peak_rss=$(peak_kb "$pid")
  local wal_peak; wal_peak=$(sort -n "$wal_log" | tail -n1)

  local stored
  stored=$(curl -s "$BASE/api/overview?project_id=$project&from=0" -H "Authorization: Bearer $token")
  kill -TERM "$pid"; wait "$pid" || true
  [ -z "$url" ] || psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS tt_bench_$$ WITH (FORCE)"
  rm -rf "$dir"

  python3 - "$backend" "$idle_rss" "$peak_rss" "$health" "$event" "$batch" "$errors" "$big" "$latency" "$stored" "${wal_peak:-0}" "$slices" <<'PY'
import json, sys
backend, idle, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
health, event, batch, errors, big = (json.loads(a) for a in sys.argv[4:9])
lat, stored, wal = json.loads(sys.argv[9]), json.loads(sys.argv[10]), int(sys.argv[11])
slices = " / ".join(f"{r} %" for r in json.loads(sys.argv[12]))
codes = lat.get("statusCodeDistribution", {})
ok = sum(v for k, v in codes.items() if k.startswith("2"))
p99 = lat["latencyPercentiles"]["p99"] * 1000
rps = lat["summary"]["requestsPerSec"]
rows = [
    ("/health requests/s (ceiling)", f'{health["ok_per_s"]:.0f}', ""),
    ("single events/s (durable)", f'{event["ok_per_s"]:.0f}', f'{100*event["ok_per_s"]/health["ok_per_s"]:.0f} % of /health (target ≥ 50 %); per slice: {slices}'),
    ("batched events/s (100 per request, durable)", f'{batch["items_per_s"]:.0f}', "target ≥ 100 000"),
    ("errors/s, 3 KB stacks, 100 groups (durable)", f'{errors["ok_per_s"]:.0f}', "target ≥ 5 000"),
    ("errors/s, 50 KB stacks, 100 groups (durable)", f'{big["ok_per_s"]:.0f}', "target ≥ 1 000"),
    ("p99 latency at 2 000 events/s", f'{p99:.1f} ms', f'{rps:.0f} req/s sent, {ok} × 2xx (target < 25 ms)'),
    ("resident memory idle / peak", f'{idle/1024:.1f} MB / {peak/1024:.1f} MB', "targets < 30 MB / < 150 MB"),
    ("non-2xx answers (event, batch, errors, 50 KB)", f'{event["non_2xx"]}, {batch["non_2xx"]}, {errors["non_2xx"]}, {big["non_2xx"]}', "503 = queue full (back-pressure)"),
    ("largest SQLite WAL during the run", f'{wal/1024/1024:.0f} MB' if backend == "sqlite" else "n/a", "checkpointed back, so it stays bounded"),
    ("stored afterwards: events / error occurrences", f'{stored.get("events")} / {stored.get("errors")}', "cross-check of the durable counts"),
]
print(f"\n### {backend}\n\n| measure | value | note |\n|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]} | {r[2]} |")
PY
}

need
cargo build --release --quiet
size=$(stat -c %s target/release/telemetry-tracker)
mkdir -p bench/results
out="bench/results/$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "## Ingest benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, ${DURATION}s per measure (/health and single events in $ROUNDS alternating slices), $CONNECTIONS connections"
  echo
  echo "Release binary: $((size / 1024 / 1024)) MB ($size bytes; target < 40 MB)."
  case $BACKENDS in
    sqlite|postgres) run_backend "$BACKENDS" ;;
    both) run_backend sqlite; run_backend postgres ;;
    *) echo "usage: bench/run.sh [sqlite|postgres|both]" >&2; exit 2 ;;
  esac
} | tee "$out"
