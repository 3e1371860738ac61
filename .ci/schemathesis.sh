#!/usr/bin/env bash
# API fuzzing: runs Schemathesis against a live server on SQLite, with the spec the
# server itself serves, and fails on 5xx answers and on answers the spec does not allow.
#
#   .ci/schemathesis.sh path/to/telemetry-tracker [more `schemathesis run` options]
#
# ST_MAX_EXAMPLES (cases per operation and phase), ST_SEED and ST_WORKERS tune the run;
# ST_REPORT_DIR, when set, also gets JUnit and JSON reports and the server's log.
#
# No operation is excluded. Those that could take away the run's own credentials or
# data (logout, password change, ending sessions, deleting tokens, keys, projects,
# organizations, leaving or changing memberships) run as a second, throwaway user on
# its own objects, set up below; reset-password and register/confirm need mailed
# tokens the fuzzer cannot have, so they only see invalid ones.
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 path/to/telemetry-tracker [schemathesis run options]}")
shift
CI_DIR=$(cd "$(dirname "$0")" && pwd)
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
SEED=${ST_SEED:-20240601}
# One worker: the same seed then sends the same requests in the same order (two were
# no faster here: the server shares the machine's two cores).
WORKERS=${ST_WORKERS:-1}

# A fresh Debian machine may lack the venv module (ensurepip) and curl.
if ! python3 -c 'import ensurepip, venv' 2>/dev/null || ! command -v curl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3 python3-venv curl >/dev/null
fi

# The venv lives outside the work tree (CI clones afresh) and is rebuilt only when the
# pinned requirements change.
VENV=${XDG_CACHE_HOME:-$HOME/.cache}/tt-schemathesis-venv
REQS=$CI_DIR/schemathesis-requirements.txt
if ! cmp -s "$REQS" "$VENV/.requirements" 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS"
  cp "$REQS" "$VENV/.requirements"
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "${ST_REPORT_DIR:-}" ]; then cp "$WORK/server.log" "$ST_REPORT_DIR/" 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
# Open sign-up so /register is exercised past its 403; no rate limits, or the fuzzer's
# own request rate would turn most answers into 429s.
TELEMETRY_ALLOW_REGISTRATION=true RATE_LIMIT_AUTH_MAX=0 RATE_LIMIT_API_MAX=0 \
  "$BIN" serve --data-dir "$WORK/data" --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 60); do
  curl -fs "$BASE/health" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
  sleep 0.5
done
curl -fs "$BASE/health" >/dev/null || { echo "server did not become healthy" >&2; cat "$WORK/server.log"; exit 1; }

# Fixtures: through the CLI (it writes straight to the database) where it can, else
# through the API.
tt() { "$BIN" --data-dir "$WORK/data" --json "$@"; }
# get a.0.b: prints that field of the JSON on stdin.
get() { python3 -c 'import functools as f, json, sys; print(f.reduce(lambda o, k: o[int(k) if isinstance(o, list) else k], sys.argv[1].split("."), json.load(sys.stdin)))' "$1"; }
api() { curl -fsS -H 'Content-Type: application/json' -H "Authorization: Bearer $1" "${@:2}"; }
PW='a long password for the fuzzer'
# The user whose token the run uses, with a project that has some telemetry to read
# and an open invite.
ORG=$(tt user create --email fuzz@example.com --password-stdin --org Acme <<<"$PW" | get org_id)
PROJECT=$(tt project create --org "$ORG" --name Web | get id)
KEY=$(tt apikey create --project "$PROJECT" --label web | get key)
TOKEN=$(tt token create --email fuzz@example.com --name fuzz | get token)
tt demo-data --project "$PROJECT" --days 3 --sessions 30 --events 300 --errors 30 --users 10 >/dev/null
INVITE=$(api "$TOKEN" -X POST "$BASE/api/orgs/$ORG/invites" -d '{"email":"sam@example.com","role":"VIEWER"}')
INVITE_ID=$(get invite.id <<<"$INVITE")
INVITE_TOKEN=$(get link <<<"$INVITE"); INVITE_TOKEN=${INVITE_TOKEN##*token=}
# A second user for the operations that end a credential, a session, a membership,
# an organization or a project: they run with its token and on its own objects, so
# they really succeed once, and cannot take away what the rest of the run needs.
B_USER=$(tt user create --email burner@example.com --password-stdin --org Scratch <<<"$PW")
B_USER_ID=$(get id <<<"$B_USER")
B_ORG=$(get org_id <<<"$B_USER")
B_DOOMED_ORG=$(tt org create --name Doomed --owner burner@example.com | get id)
B_PROJECT=$(tt project create --org "$B_ORG" --name Scratch | get id)
B_DOOMED_PROJECT=$(tt project create --org "$B_ORG" --name Doomed | get id)
B_KEY_ID=$(tt apikey create --project "$B_PROJECT" --label doomed | get id)
B_DOOMED_TOKEN_ID=$(tt token create --email burner@example.com --name doomed | get id)
B_TOKEN=$(tt token create --email burner@example.com --name fuzz | get token)
# Logged in now, before the fuzzer's failed logins lock this address out.
curl -fsS -o /dev/null -H 'Content-Type: application/json' "$BASE/api/auth/login" \
  -d "{\"email\":\"burner@example.com\",\"password\":\"$PW\"}"
B_SESSION_ID=$(api "$B_TOKEN" "$BASE/api/auth/sessions" | get 0.id)

# Path ids mostly point at the real objects, so operations get past 404; the rest of
# the time the fuzzer's own strings check the not-found paths.
cat >"$WORK/schemathesis.toml" <<EOF
[headers]
Authorization = "Bearer $TOKEN"
X-Project-Id = "$PROJECT"

[dictionaries]
org = { values = ["$ORG"] }
project = { values = ["$PROJECT"] }
invite = { values = ["$INVITE_ID"] }
invite_token = { values = ["$INVITE_TOKEN"] }

[parameters]
"path.org_id" = { dictionary = "org", probability = 0.8 }
"path.project_id" = { dictionary = "project", probability = 0.8 }
"query.project_id" = { dictionary = "project", probability = 0.5 }
"path.invite_id" = { dictionary = "invite", probability = 0.8 }
"path.token" = { dictionary = "invite_token", probability = 0.8 }

# Ingest takes a project API key, not a personal token.
[[operations]]
include-path-regex = "^/ingest/"
headers = { Authorization = "Bearer $KEY" }

# Logging out, changing the password, ending sessions: the burner's, which has one
# login session to end.
[[operations]]
include-name = [
  "POST /api/auth/logout",
  "POST /api/auth/password",
  "POST /api/auth/sessions/revoke-others",
  "DELETE /api/auth/sessions/{id}",
]
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.id" = "$B_SESSION_ID" }

# The burner is its organization's only owner: leaving, or demoting or removing
# itself, must be refused.
[[operations]]
include-name = [
  "POST /api/orgs/{org_id}/leave",
  "DELETE /api/orgs/{org_id}/members/{user_id}",
  "PATCH /api/orgs/{org_id}/members/{user_id}",
]
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.org_id" = "$B_ORG", "path.user_id" = "$B_USER_ID" }

[[operations]]
include-name = "DELETE /api/orgs/{org_id}"
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.org_id" = "$B_DOOMED_ORG" }

[[operations]]
include-name = "DELETE /api/projects/{project_id}"
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.project_id" = "$B_DOOMED_PROJECT" }

[[operations]]
include-name = "DELETE /api/projects/{project_id}/keys/{key_id}"
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.project_id" = "$B_PROJECT", "path.key_id" = "$B_KEY_ID" }

[[operations]]
include-name = "DELETE /api/tokens/{id}"
headers = { Authorization = "Bearer $B_TOKEN" }
parameters = { "path.id" = "$B_DOOMED_TOKEN_ID" }
EOF

# --mode all: every operation also gets requests that violate the spec, and
# negative_data_rejection fails when the server accepts one of them.
# A request timeout fails the case instead of hanging the job. Run from $WORK so
# Schemathesis' caches never land in the work tree.
REPORT=()
[ -n "${ST_REPORT_DIR:-}" ] && mkdir -p "$ST_REPORT_DIR" && REPORT=(--report junit,json --report-dir "$(realpath "$ST_REPORT_DIR")")
cd "$WORK"
# Its exit status (1 on any failure) is the script's; the EXIT trap stops the server.
(set -x; "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" run "$BASE/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --mode all --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "$WORKERS" \
  --generation-database none --request-timeout 10 --no-color "${REPORT[@]}" "$@")
