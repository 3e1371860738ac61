#!/usr/bin/env bash
# Dashboard benchmark: seeds a project with 10 000 000 events, 500 000 error
# occurrences and 1 000 000 sessions spread over a year (in bulk, through the ingest
# writer's group commit, so every roll-up is maintained as for real traffic), then
# times every dashboard page, server-side, for a 30-day and a 1-year range.
#
#   bench/dashboard.sh [sqlite|postgres|both]             (default: both)
#   EVENTS=1000000 ERRORS=50000 SESSIONS=100000 bench/dashboard.sh sqlite   (a quick run)
#   REPEAT=20 bench/dashboard.sh
#   KEEP=1 bench/dashboard.sh sqlite      (keep the seeded database and print where)
#
# Each page is requested REPEAT times one after the other by a signed-in user, after
# two warm-up requests; the time is curl's total on loopback (the page is rendered
# on the server; there is nothing else to wait for). p95 is reported with the
# transferred size. Results go to stdout and bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${1:-both}
EVENTS=${EVENTS:-10000000}
ERRORS=${ERRORS:-500000}
SESSIONS=${SESSIONS:-1000000}
USERS=${USERS:-200000}
DAYS=${DAYS:-365}
REPEAT=${REPEAT:-20}
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
export PATH="$HOME/.cargo/bin:$PATH"

source bench/lib.sh

run_backend() {
  local backend=$1 dir url="" name="tt_dash_$$"
  dir=$(mktemp -d)
  if [ "$backend" = postgres ]; then
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -qc "CREATE DATABASE $name"
    url="postgres://postgres@127.0.0.1:5432/$name"
  fi
  tt() { DATABASE_URL="$url" ./target/release/telemetry-tracker --json --data-dir "$dir" "$@"; }

  local org project token seed_s
  org=$(tt user create --email bench@example.com --password 'benchmark password' --org Bench | json_get '["org_id"]')
  project=$(tt project create --org "$org" --name "Web shop" | json_get '["id"]')
  token=$(tt token create --email bench@example.com | json_get '["token"]')
  echo "[$backend] seeding $EVENTS events, $ERRORS errors, $SESSIONS sessions over $DAYS days…" >&2
  local started; started=$(date +%s)
  DATABASE_URL="$url" ./target/release/telemetry-tracker --data-dir "$dir" demo-data --project "$project" \
    --days "$DAYS" --events "$EVENTS" --errors "$ERRORS" --sessions "$SESSIONS" --users "$USERS" >&2
  seed_s=$(( $(date +%s) - started ))
  local db_size
  if [ -z "$url" ]; then
    db_size=$(du -sm "$dir" | cut -f1)
  else
    db_size=$(psql "$PG_ADMIN" -Atc "SELECT pg_database_size('$name') / 1048576")
  fi

  local port pid base jar
  port=$(free_port)
  base="http://127.0.0.1:$port"
  if [ -n "$url" ]; then export DATABASE_URL=$url; else unset DATABASE_URL; fi
  RUST_LOG=warn RATE_LIMIT_API_MAX=0 ./target/release/telemetry-tracker serve --data-dir "$dir" --port "$port" &
  pid=$!
  wait_healthy "$base"

  # Sign in like a browser: the login form's token, then the session cookie.
  jar=$(mktemp)
  local csrf
  csrf=$(curl -s -c "$jar" -b "$jar" "$base/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
  curl -s -o /dev/null -c "$jar" -b "$jar" -H "Origin: $base" \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=bench@example.com" \
    --data-urlencode "password=benchmark password" "$base/login"

  local group session
  group=$(curl -s "$base/api/errors?project_id=$project&range=1y&sort=occurrences&limit=1" -H "Authorization: Bearer $token" | json_get '["items"][0]["id"]')
  session=$(curl -s "$base/api/sessions?project_id=$project&range=30d&limit=1" -H "Authorization: Bearer $token" | json_get '["items"][0]["id"]')

  local results; results=$(mktemp)
  for range in 30d 1y; do
    for page in "/" "/?environment=production" "/errors" "/errors/$group" "/events" "/events?name=page_view" \
                "/sessions" "/sessions/$session" "/performance"; do
      local sep='?'; [[ $page == *\?* ]] && sep='&'
      local path="$page${sep}range=$range"
      [[ $page == /sessions/* ]] && path=$page
      for _ in 1 2; do curl -s -o /dev/null -b "$jar" "$base$path"; done
      for _ in $(seq 1 "$REPEAT"); do
        curl -s -o /dev/null -b "$jar" -w "$range\t$page\t%{http_code}\t%{time_total}\t%{size_download}\n" "$base$path" >> "$results"
      done
    done
  done
  local rss; rss=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  if [ -n "${KEEP:-}" ]; then
    echo "[$backend] kept: --data-dir $dir ${url:+DATABASE_URL=$url}" >&2
  else
    [ -z "$url" ] || psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
    rm -rf "$dir"
  fi
  rm -f "$jar"

  python3 - "$backend" "$seed_s" "$db_size" "$rss" "$results" "$EVENTS" "$ERRORS" "$SESSIONS" <<'PY'
import sys, collections
backend, seed_s, db_mb, rss_kb, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
events, errors, sessions = (int(a) for a in sys.argv[6:9])
rows = collections.OrderedDict()
for line in open(path):
    rng, page, code, t, size = line.rstrip("\n").split("\t")
    rows.setdefault((page, rng), []).append((int(code), float(t) * 1000, int(size)))
def p95(xs):
    xs = sorted(xs); return xs[max(0, int(round(0.95 * len(xs))) - 1)]
print(f"\n### {backend}\n")
print(f"Seeded {events:,} events, {errors:,} error occurrences and {sessions:,} sessions in {seed_s} s "
      f"({(events + errors + sessions) / max(seed_s, 1):,.0f} items/s); database {db_mb} MB; "
      f"server peak memory {rss_kb / 1024:.0f} MB.\n")
print("| page | 30 days p95 | 1 year p95 | size (30 days) |\n|---|---|---|---|")
pages = list(dict.fromkeys(p for p, _ in rows))
for page in pages:
    cells = []
    for rng, target in (("30d", 300), ("1y", 1000)):
        r = rows.get((page, rng), [])
        bad = [c for c, _, _ in r if c != 200]
        ms = p95([t for _, t, _ in r]) if r else float("nan")
        mark = "✓" if ms < target and not bad else "✗"
        cells.append(f"{ms:.0f} ms {mark}" + (f" ({len(bad)} non-200)" if bad else ""))
    size = rows.get((page, "30d"), [(0, 0, 0)])[0][2]
    label = page if not page.startswith(("/errors/", "/sessions/")) else page.rsplit("/", 1)[0] + "/{id}"
    print(f"| `{label}` | {cells[0]} | {cells[1]} | {size / 1024:.0f} KB |")
PY
  rm -f "$results"
}

cargo build --release --quiet
mkdir -p bench/results
out="bench/results/dashboard-$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "## Dashboard benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $REPEAT requests per page and range"
  echo
  echo "Targets: every page < 300 ms p95 for 30 days and < 1 s for 1 year; Overview < 150 KB."
  case $BACKENDS in
    sqlite|postgres) run_backend "$BACKENDS" ;;
    both) run_backend sqlite; run_backend postgres ;;
    *) echo "usage: bench/dashboard.sh [sqlite|postgres|both]" >&2; exit 2 ;;
  esac
} | tee "$out"
