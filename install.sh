#!/usr/bin/env bash
# Install, upgrade or remove Telemetry Tracker as a systemd service.
#
#   sudo ./install.sh                       install or upgrade, then start
#   sudo ./install.sh --binary PATH         use this binary
#   sudo ./install.sh --no-start            install but do not (re)start
#   sudo ./install.sh --uninstall [--purge] remove (keep data unless --purge)
#
# Running it again upgrades: the binary is replaced and the service restarted.
# The settings file /etc/telemetry-tracker/env is never overwritten.
set -euo pipefail

readonly NAME=telemetry-tracker
readonly SERVICE_USER=telemetry-tracker
readonly SERVICE_GROUP=telemetry-tracker
readonly BIN_DEST=/usr/local/bin/telemetry-tracker
readonly DATA_DIR=/var/lib/telemetry-tracker
readonly CONF_DIR=/etc/telemetry-tracker
readonly ENV_FILE=$CONF_DIR/env
readonly UNIT_NAME=telemetry-tracker.service
readonly UNIT_DEST=/etc/systemd/system/$UNIT_NAME
readonly HEALTH_TRIES=60

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly UNIT_SRC=$SCRIPT_DIR/packaging/$UNIT_NAME
readonly ENV_SRC=$SCRIPT_DIR/packaging/telemetry-tracker.env

binary=""
start=1
uninstall=0
purge=0

usage() {
    cat <<EOF
Usage: sudo $0 [OPTIONS]

Install or upgrade Telemetry Tracker as a systemd service:
  binary   -> $BIN_DEST
  data     -> $DATA_DIR (owner $SERVICE_USER, mode 0750)
  settings -> $ENV_FILE (written once from packaging/telemetry-tracker.env)
  unit     -> $UNIT_DEST

Options:
  --binary PATH   binary to install (default: ./target/release/$NAME,
                  or $NAME next to this script)
  --no-start      install and enable, but do not start or restart the service
  --uninstall     stop and disable the service, remove the unit and the binary;
                  keeps data, settings and the system user
  --purge         with --uninstall: also delete $DATA_DIR, $CONF_DIR
                  and the $SERVICE_USER user (this destroys all telemetry)
  -h, --help      show this help

Running the script again upgrades in place: the binary is replaced and the
service restarted; settings and data are kept.
EOF
}

info() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

parse_args() {
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --binary)
                [ "$#" -ge 2 ] || die "--binary needs a path"
                binary=$2
                shift 2
                ;;
            --binary=*)
                binary=${1#--binary=}
                shift
                ;;
            --no-start)
                start=0
                shift
                ;;
            --uninstall)
                uninstall=1
                shift
                ;;
            --purge)
                purge=1
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                die "unknown option: $1"
                ;;
        esac
    done
    if [ "$purge" -eq 1 ] && [ "$uninstall" -eq 0 ]; then
        die "--purge only works together with --uninstall"
    fi
}

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        die "this script must run as root (try: sudo $0 $*)"
    fi
}

# True when systemd is the running init system (same test as sd_booted()).
have_systemd() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

find_binary() {
    if [ -n "$binary" ]; then
        [ -f "$binary" ] || die "binary not found: $binary"
        case "$binary" in
            */*) ;;
            *) binary=./$binary ;;
        esac
        return
    fi
    local candidate
    for candidate in "./target/release/$NAME" "$SCRIPT_DIR/target/release/$NAME" "$SCRIPT_DIR/$NAME"; do
        if [ -f "$candidate" ]; then
            binary=$candidate
            return
        fi
    done
    die "no binary found; build it with 'cargo build --release' or pass --binary PATH"
}

# Last value of KEY in the env file, without surrounding quotes; empty if unset.
env_value() {
    local key=$1 line value
    [ -r "$ENV_FILE" ] || return 0
    line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}=" "$ENV_FILE" | tail -n 1 || true)
    [ -n "$line" ] || return 0
    value=${line#*=}
    value=${value%"${value##*[![:space:]]}"}
    case "$value" in
        \"*\")
            value=${value#\"}
            value=${value%\"}
            ;;
        \'*\')
            value=${value#\'}
            value=${value%\'}
            ;;
    esac
    printf '%s' "$value"
}

create_user() {
    local nologin
    nologin=$(command -v nologin || true)
    [ -n "$nologin" ] || nologin=/bin/false

    if ! getent group "$SERVICE_GROUP" >/dev/null; then
        info "creating system group $SERVICE_GROUP"
        if command -v groupadd >/dev/null 2>&1; then
            groupadd --system "$SERVICE_GROUP"
        elif command -v addgroup >/dev/null 2>&1; then
            addgroup -S "$SERVICE_GROUP"
        else
            die "neither groupadd nor addgroup is available to create group $SERVICE_GROUP"
        fi
    fi
    if ! getent passwd "$SERVICE_USER" >/dev/null; then
        info "creating system user $SERVICE_USER"
        if command -v useradd >/dev/null 2>&1; then
            useradd --system --gid "$SERVICE_GROUP" --home-dir "$DATA_DIR" \
                --no-create-home --shell "$nologin" \
                --comment "Telemetry Tracker" "$SERVICE_USER"
        elif command -v adduser >/dev/null 2>&1; then
            adduser -S -D -H -h "$DATA_DIR" -s "$nologin" -G "$SERVICE_GROUP" "$SERVICE_USER"
        else
            die "neither useradd nor adduser is available to create user $SERVICE_USER"
        fi
    fi
}

install_binary() {
    local version
    if ! version=$("$binary" version 2>/dev/null); then
        die "$binary does not run on this machine (wrong architecture or not a $NAME binary?)"
    fi
    info "installing $binary ($version) to $BIN_DEST"
    install -d -m 0755 "$(dirname "$BIN_DEST")"
    # Copy next to the target, then rename: a running process keeps its old
    # file and the swap is atomic.
    install -m 0755 -o root -g root "$binary" "$BIN_DEST.new"
    mv -f "$BIN_DEST.new" "$BIN_DEST"
}

install_dirs_and_settings() {
    install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_GROUP" "$DATA_DIR"
    # Data kept from an earlier install may belong to a user id that no
    # longer exists; hand it to the current service user.
    if [ -n "$(find "$DATA_DIR" ! -user "$SERVICE_USER" -print -quit)" ]; then
        info "fixing ownership of $DATA_DIR"
        chown -R "$SERVICE_USER:$SERVICE_GROUP" "$DATA_DIR"
    fi

    install -d -m 0750 -o root -g "$SERVICE_GROUP" "$CONF_DIR"
    [ -f "$ENV_SRC" ] || die "missing $ENV_SRC (run this script from the source tree or release archive)"
    if [ -e "$ENV_FILE" ]; then
        info "keeping existing settings in $ENV_FILE"
    else
        info "writing default settings to $ENV_FILE"
        install -m 0640 -o root -g "$SERVICE_GROUP" "$ENV_SRC" "$ENV_FILE"
    fi
    # Always refresh the reference copy so new settings show up after upgrades.
    install -m 0644 -o root -g root "$ENV_SRC" "$CONF_DIR/env.example"
}

install_unit() {
    [ -f "$UNIT_SRC" ] || die "missing $UNIT_SRC (run this script from the source tree or release archive)"
    info "installing $UNIT_DEST"
    install -m 0644 -o root -g root "$UNIT_SRC" "$UNIT_DEST"
}

# Print the address clients should use: http://<host>:<port>/
public_url() {
    local origin host port
    origin=$(env_value TELEMETRY_DASHBOARD_ORIGIN)
    if [ -n "$origin" ]; then
        printf '%s/\n' "${origin%/}"
        return
    fi
    host=$(env_value HOST)
    port=$(env_value PORT)
    host=${host:-0.0.0.0}
    port=${port:-3001}
    case "$host" in
        0.0.0.0 | :: | "[::]")
            host=$( (hostname -I 2>/dev/null || true) | awk '{print $1}')
            [ -n "$host" ] || host=$(hostname 2>/dev/null || echo localhost)
            ;;
    esac
    case "$host" in
        *:*) [ "${host#[}" = "$host" ] && host="[$host]" ;;
    esac
    printf 'http://%s:%s/\n' "$host" "$port"
}

# Address to probe /health from this machine.
health_url() {
    local host port
    host=$(env_value HOST)
    port=$(env_value PORT)
    host=${host:-0.0.0.0}
    port=${port:-3001}
    case "$host" in
        0.0.0.0) host=127.0.0.1 ;;
        :: | "[::]") host="[::1]" ;;
        *:*) [ "${host#[}" = "$host" ] && host="[$host]" ;;
    esac
    printf 'http://%s:%s/health\n' "$host" "$port"
}

# The binary's own post-deploy checks against the address it serves on (health and
# version, credentials required, login redirect, OpenAPI). A failure is reported,
# not fatal: the service is installed and running either way.
post_deploy_checks() {
    local url
    url=$(health_url)
    url=${url%/health}
    info "checking $url"
    if ! "$BIN_DEST" verify "$url"; then
        warn "some checks failed (above); see journalctl -u $NAME"
    fi
}

wait_for_health() {
    local url i
    url=$(health_url)
    if ! command -v curl >/dev/null 2>&1; then
        warn "curl not found; not waiting for $url"
        return 0
    fi
    info "waiting for $url"
    for ((i = 1; i <= HEALTH_TRIES; i++)); do
        if curl -fsS --max-time 2 -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        if ! systemctl is-active --quiet "$UNIT_NAME" && [ "$i" -gt 3 ]; then
            break
        fi
        sleep 1
    done
    if systemctl is-active --quiet "$UNIT_NAME"; then
        warn "$NAME is running but $url did not answer within ${HEALTH_TRIES}s"
        warn "(a long database migration after an upgrade?); follow it with: journalctl -u $NAME -f"
        return 0
    fi
    printf '\n' >&2
    systemctl --no-pager --lines=0 status "$UNIT_NAME" >&2 || true
    journalctl --no-pager -n 30 -u "$UNIT_NAME" >&2 || true
    die "$NAME did not answer $url; see the log above ('journalctl -u $NAME')"
}

print_manual_instructions() {
    cat <<EOF

systemd is not running on this machine, so no service was started.
Everything else is installed. To run Telemetry Tracker by hand:

  runuser -u $SERVICE_USER -- sh -c 'set -a; . $ENV_FILE; set +a; \\
      HOST=\${HOST:-0.0.0.0} exec $BIN_DEST serve --data-dir $DATA_DIR'

or keep it running under your own supervisor (runit, s6, supervisord, a
container) with that command. It stops gracefully on SIGTERM.
EOF
}

do_install() {
    find_binary
    create_user
    install_binary
    install_dirs_and_settings
    install_unit

    if ! have_systemd; then
        print_manual_instructions
        return 0
    fi

    systemctl daemon-reload
    systemctl enable --quiet "$UNIT_NAME"

    if [ "$start" -eq 0 ]; then
        info "installed and enabled; not started (--no-start)"
        if systemctl is-active --quiet "$UNIT_NAME"; then
            echo "The running service still uses the old binary: systemctl restart $NAME"
        else
            echo "Review $ENV_FILE, then: systemctl start $NAME"
        fi
        return 0
    fi

    if systemctl is-active --quiet "$UNIT_NAME"; then
        info "restarting $NAME"
    else
        info "starting $NAME"
    fi
    systemctl restart "$UNIT_NAME"
    wait_for_health
    post_deploy_checks

    cat <<EOF

Telemetry Tracker is running: $(public_url)

  settings  $ENV_FILE   (then: systemctl restart $NAME)
  data      $DATA_DIR
  logs      journalctl -u $NAME -f

Open the URL to create the first account (it becomes the administrator),
then create a project and an API key for your SDKs.
EOF
}

do_uninstall() {
    if have_systemd; then
        if systemctl list-unit-files "$UNIT_NAME" --no-legend 2>/dev/null | grep -q .; then
            info "stopping and disabling $NAME"
            systemctl disable --now --quiet "$UNIT_NAME" || true
        fi
    fi
    if [ -e "$UNIT_DEST" ]; then
        info "removing $UNIT_DEST"
        rm -f "$UNIT_DEST"
    fi
    if have_systemd; then
        systemctl daemon-reload
        systemctl reset-failed "$UNIT_NAME" 2>/dev/null || true
    fi
    if [ -e "$BIN_DEST" ]; then
        info "removing $BIN_DEST"
        rm -f "$BIN_DEST"
    fi

    if [ "$purge" -eq 1 ]; then
        info "purging $DATA_DIR and $CONF_DIR"
        rm -rf -- "$DATA_DIR" "$CONF_DIR"
        if getent passwd "$SERVICE_USER" >/dev/null; then
            info "removing user $SERVICE_USER"
            userdel "$SERVICE_USER" 2>/dev/null || deluser "$SERVICE_USER" 2>/dev/null ||
                warn "could not remove user $SERVICE_USER"
        fi
        if getent group "$SERVICE_GROUP" >/dev/null; then
            groupdel "$SERVICE_GROUP" 2>/dev/null || delgroup "$SERVICE_GROUP" 2>/dev/null || true
        fi
        info "Telemetry Tracker and all its data were removed"
    else
        info "uninstalled; kept $DATA_DIR, $CONF_DIR and user $SERVICE_USER (--purge removes them)"
    fi
}

main() {
    parse_args "$@"
    require_root "$@"
    if [ "$uninstall" -eq 1 ]; then
        do_uninstall
    else
        do_install
    fi
}

main "$@"
