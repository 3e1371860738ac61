#!/usr/bin/env bash
# Installs and removes Telemetry Tracker on THIS machine, both ways a self-hoster
# does — install.sh and the Debian package — and checks what is there after each
# step (CI runs it; issue 19). On a machine without systemd running (CI, containers)
# nothing is started by the installers; the test starts the installed binary as the
# service user with the installed settings, checks it with `verify`, and stops it.
#
#   sudo packaging/test-install.sh BINARY DEB [UPGRADE_DEB]
#
# Needs root. Touches /usr/local/bin, /usr/bin, /etc/telemetry-tracker,
# /var/lib/telemetry-tracker, the unit directories and the telemetry-tracker user,
# and leaves none of them behind.
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY=${1:?usage: packaging/test-install.sh BINARY DEB [UPGRADE_DEB]}
DEB=${2:?usage: packaging/test-install.sh BINARY DEB [UPGRADE_DEB]}
UPGRADE_DEB=${3:-$DEB}
NAME=telemetry-tracker
SVC_USER=telemetry-tracker
DATA_DIR=/var/lib/$NAME
CONF_DIR=/etc/$NAME
ENV_FILE=$CONF_DIR/env
MAX_EXPOSURE=2.0

step() { printf '\n--> %s\n' "$*"; }
fail() {
    printf 'FAILED: %s\n' "$*" >&2
    exit 1
}
exists() { [ -e "$1" ] || fail "$1 is missing"; }
absent() { [ ! -e "$1" ] || fail "$1 is still there"; }
mode_owner() { # PATH MODE OWNER:GROUP
    local got
    got=$(stat -c '%a %U:%G' "$1")
    [ "$got" = "$2 $3" ] || fail "$1 is $got, expected $2 $3"
}
user_exists() { getent passwd "$SVC_USER" >/dev/null || fail "user $SVC_USER is missing"; }
user_absent() { ! getent passwd "$SVC_USER" >/dev/null || fail "user $SVC_USER is still there"; }

[ "$(id -u)" -eq 0 ] || fail "run as root"
[ -d /run/systemd/system ] && echo "note: systemd is running here; the installers will start the service"

cleanup() {
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
    dpkg -P "$NAME" >/dev/null 2>&1 || true
    ./install.sh --uninstall --purge >/dev/null 2>&1 || true
    rm -rf "$DATA_DIR" "$CONF_DIR"
}
trap cleanup EXIT
cleanup

# Starts BIN as the service user with the installed env file on a free port,
# waits for /health, runs `verify` against it and stops it (SIGTERM, graceful).
serve_and_verify() {
    local bin=$1 port log
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    log=$(mktemp)
    runuser -u "$SVC_USER" -- sh -c "set -a; . $ENV_FILE; set +a; exec $bin serve --data-dir $DATA_DIR --host 127.0.0.1 --port $port" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; fail "$bin exited"; }
        sleep 0.1
    done
    "$bin" verify "http://127.0.0.1:$port" || { cat "$log" >&2; fail "verify failed against $bin"; }
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
    exists "$DATA_DIR/telemetry.db"
    [ "$(stat -c %U "$DATA_DIR/telemetry.db")" = "$SVC_USER" ] || fail "the database is not $SVC_USER's"
    rm -f "$log"
}

step "install.sh --no-start"
out=$(./install.sh --no-start --binary "$BINARY" 2>&1) || { echo "$out"; fail "install.sh failed"; }
echo "$out"
if [ ! -d /run/systemd/system ]; then
    grep -q "systemd is not running" <<<"$out" || fail "install.sh did not say it skipped systemd"
fi
exists /usr/local/bin/$NAME
user_exists
mode_owner "$DATA_DIR" 750 "$SVC_USER:$SVC_USER"
mode_owner "$ENV_FILE" 640 "root:$SVC_USER"
exists "$CONF_DIR/env.example"
exists /etc/systemd/system/$NAME.service

step "the unit: systemd-analyze verify and security (exposure at most $MAX_EXPOSURE)"
systemd-analyze verify /etc/systemd/system/$NAME.service
exposure=$(systemd-analyze security --offline=true /etc/systemd/system/$NAME.service 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure level from systemd-analyze security"
echo "exposure level: $exposure"
awk -v e="$exposure" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(e <= max) }' || fail "exposure $exposure > $MAX_EXPOSURE"

step "the installed binary serves as $SVC_USER with the installed settings"
serve_and_verify /usr/local/bin/$NAME

step "install.sh again (an upgrade) keeps settings and data"
echo "# kept across upgrades (test)" >>"$ENV_FILE"
./install.sh --no-start --binary "$BINARY" >/dev/null 2>&1 || fail "re-install failed"
grep -q "kept across upgrades" "$ENV_FILE" || fail "the upgrade replaced $ENV_FILE"
exists "$DATA_DIR/telemetry.db"
serve_and_verify /usr/local/bin/$NAME

step "install.sh --uninstall keeps data, settings and the user"
./install.sh --uninstall
absent /usr/local/bin/$NAME
absent /etc/systemd/system/$NAME.service
exists "$DATA_DIR/telemetry.db"
exists "$ENV_FILE"
user_exists

step "install.sh --uninstall --purge removes everything"
./install.sh --uninstall --purge
absent "$DATA_DIR"
absent "$CONF_DIR"
user_absent

step "dpkg -i $(basename "$DEB")"
out=$(dpkg -i "$DEB" 2>&1) || { echo "$out"; fail "dpkg -i failed"; }
echo "$out"
if [ ! -d /run/systemd/system ]; then
    grep -q "systemd is not running" <<<"$out" || fail "the package did not say it skipped systemd"
fi
exists /usr/bin/$NAME
exists /lib/systemd/system/$NAME.service
exists /lib/systemd/system/$NAME.service.d/deb-exec.conf
user_exists
mode_owner "$DATA_DIR" 750 "$SVC_USER:$SVC_USER"
mode_owner "$ENV_FILE" 640 "root:$SVC_USER"
dpkg-query -W -f='${Conffiles}\n' $NAME | grep -q "$ENV_FILE" || fail "$ENV_FILE is not a conffile"
serve_and_verify /usr/bin/$NAME

step "dpkg -i $(basename "$UPGRADE_DEB") (an upgrade) keeps settings and data"
echo "# kept across upgrades (test)" >>"$ENV_FILE"
dpkg -i --force-confold "$UPGRADE_DEB" >/dev/null 2>&1 || fail "the upgrade failed"
echo "installed: $(dpkg-query -W -f='${Version}' $NAME)"
grep -q "kept across upgrades" "$ENV_FILE" || fail "the upgrade replaced $ENV_FILE"
exists "$DATA_DIR/telemetry.db"
serve_and_verify /usr/bin/$NAME

step "dpkg -r keeps data, settings and the user"
dpkg -r $NAME
absent /usr/bin/$NAME
absent /lib/systemd/system/$NAME.service
exists "$ENV_FILE"
exists "$DATA_DIR/telemetry.db"
user_exists

step "dpkg -P removes settings, data and the user"
dpkg -P $NAME
absent "$CONF_DIR"
absent "$DATA_DIR"
user_absent

trap - EXIT
echo
echo "install.sh and the Debian package installed, upgraded, served and were removed cleanly"
