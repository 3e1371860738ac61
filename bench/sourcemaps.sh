#!/usr/bin/env bash
# The cost of source maps on error ingest, with a real esbuild bundle (~1.4 MB of
# minified code, a ~3.7 MB map with sourcesContent; bench/sourcemaps/make-bundle.mjs):
#
# 1. Throughput, one build side by side (bench/ab.sh, load `mapped`): the same
#    errors (25 frames into the bundle, 100 groups) to a project without artifacts
#    (A: grouped on the raw frames) and to one with the bundle and its map uploaded
#    (B: every frame mapped, grouped on the original code).
# 2. The time to map one 25-frame stack against the warm map, from the server's own
#    counters (telemetry_sourcemap_stack_seconds_total / _stacks_total), one
#    request at a time after a warm-up.
#
#   bench/sourcemaps.sh [BINARY]     (default: target/release/telemetry-tracker)
#   BACKEND=postgres ROUNDS=3 bench/sourcemaps.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/telemetry-tracker}
source bench/lib.sh
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
[ -d tests/fixtures/sourcemaps/node_modules ] || npm ci --prefix tests/fixtures/sourcemaps --silent

bundle=$(mktemp -d)
work=$(mktemp -d)
cleanup() { [ -f "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null; rm -rf "$bundle" "$work"; }
trap cleanup EXIT
sizes=$(node bench/sourcemaps/make-bundle.mjs "$bundle")
echo "bundle: $sizes"
export BUNDLE_COLUMNS
BUNDLE_COLUMNS=$(echo "$sizes" | json_get '["line_length"]')

upload="token=\$(\"\$BIN\" --json --data-dir \"\$DATA_DIR\" token create --email \"\$EMAIL\" | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"token\"])')
curl -sf -H \"Authorization: Bearer \$token\" \
  -F \"file=@$bundle/assets/big.js;filename=assets/big.js\" \
  -F \"file=@$bundle/assets/big.js.map;filename=assets/big.js.map\" \
  \"http://127.0.0.1:\$PORT/api/projects/\$PROJECT/releases/web@bench/artifacts\" >/dev/null"
SETUP_B="$upload" bash bench/ab.sh "$BIN" "$BIN" mapped

# 2. Per stack, one request at a time, against the warm map (SQLite).
unset DATABASE_URL
read -r project key < <(seed_project "$BIN" "$work" map@example.com)
port=$(free_port)
RUST_LOG=warn "$BIN" serve --data-dir "$work" --port "$port" >"$work/log" 2>&1 &
echo $! >"$work/pid"
wait_healthy "http://127.0.0.1:$port"
BIN=$BIN DATA_DIR=$work PORT=$port PROJECT=$project EMAIL=map@example.com bash -c "$upload"
counters() { curl -sf "http://127.0.0.1:$port/metrics" | awk '/^telemetry_sourcemap_stack(s_total|_seconds_total) /{printf "%s ", $2} END {print ""}'; }
TT_KEY=$key wrk -t1 -c1 -d2s -s bench/lua/mapped.lua "http://127.0.0.1:$port/ingest/error" >/dev/null
read -r stacks0 secs0 < <(counters)
TT_KEY=$key wrk -t1 -c1 -d5s -s bench/lua/mapped.lua "http://127.0.0.1:$port/ingest/error" >/dev/null
read -r stacks1 secs1 < <(counters)
python3 -c "n=$stacks1-$stacks0; s=$secs1-$secs0; print(f'mapping one 25-frame stack (warm map): {1000*s/n:.3f} ms over {n:.0f} stacks')"
