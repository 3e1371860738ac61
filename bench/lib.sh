# Helpers shared by the benchmark scripts; sourced, not run.

# Prints a field of the JSON object on stdin: json_get '["items"][0]["id"]'
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# A TCP port free on loopback right now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 10 s for BASE_URL/health to answer.
wait_healthy() { for _ in $(seq 1 100); do curl -sf "$1/health" >/dev/null && return 0; sleep 0.1; done; return 1; }

# seed_project BINARY DATA_DIR EMAIL: a user owning an organization with one project
# and an ingest key, made with the CLI; prints "PROJECT_ID KEY". The database is the
# one DATABASE_URL names, or SQLite in DATA_DIR.
seed_project() {
  local bin=$1 dir=$2 email=$3 org project key
  org=$("$bin" --json --data-dir "$dir" user create --email "$email" --password 'benchmark password' --org Bench | json_get '["org_id"]')
  project=$("$bin" --json --data-dir "$dir" project create --org "$org" --name bench | json_get '["id"]')
  key=$("$bin" --json --data-dir "$dir" apikey create --project "$project" | json_get '["key"]')
  echo "$project $key"
}
