#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests: a fresh cluster in a temporary directory, listening
# only on 127.0.0.1 (and a Unix socket inside the directory), run as an unprivileged user, with
# one database and one password-authenticated (SCRAM) role.
#
#   scripts/postgres.sh start [DIR]   create a cluster in DIR (default: a new mktemp directory) and
#                                     start it; or, if DIR already holds one, start it again on the
#                                     same port. Prints the postgres:// URL on stdout (only that).
#   scripts/postgres.sh stop DIR [fast|immediate]
#                                     stop it, keeping its data (fast: clients disconnected, a
#                                     clean shutdown; immediate: as a crash, recovery at start)
#   scripts/postgres.sh url DIR       the URL again
#   scripts/postgres.sh status DIR    exit 0 when it accepts connections
#   scripts/postgres.sh psql DIR [ARGS...]
#                                     psql as the test role (e.g. -c 'SELECT 1')
#   scripts/postgres.sh destroy DIR   stop it and delete DIR
#
# The server refuses to run as root, so when run as root the cluster belongs to the system user
# $WARDEN_PG_USER (default warden-pg, created if missing) and its commands run through runuser.
# If no PostgreSQL server is installed, Debian's `postgresql` package is installed first (as root,
# non-interactive). Progress goes to stderr; the server log is DIR/postgres.log.
#
# Environment: WARDEN_PG_USER (OS user, when root), WARDEN_PG_BINDIR (directory of initdb/pg_ctl;
# default: the newest /usr/lib/postgresql/<ver>/bin), WARDEN_PG_PORT (default: a free port),
# WARDEN_PG_FSYNC (on|off, default on: acknowledged commits survive a machine crash, as with
# SQLite's synchronous=FULL; off only for speed where that is not measured).
set -euo pipefail

DB_NAME=warden
DB_ROLE=warden
OS_USER=${WARDEN_PG_USER:-warden-pg}

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# The directory of the server binaries: $WARDEN_PG_BINDIR, else the newest Debian version.
find_bindir() {
    if [[ -n ${WARDEN_PG_BINDIR:-} ]]; then
        [[ -x $WARDEN_PG_BINDIR/initdb ]] || die "no initdb in WARDEN_PG_BINDIR=$WARDEN_PG_BINDIR"
        printf '%s\n' "$WARDEN_PG_BINDIR"
        return
    fi
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n $dir && -x $dir/initdb && -x $dir/postgres ]]; then
        printf '%s\n' "$dir"
    fi
}

install_postgresql() {
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and only root can install it (apt-get install postgresql)"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get"
    log "installing Debian's postgresql package"
    local started=$SECONDS
    local apt=(apt-get -y -q --no-install-recommends
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    export DEBIAN_FRONTEND=noninteractive
    if ! "${apt[@]}" install postgresql >&2; then
        apt-get -q update >&2
        "${apt[@]}" install postgresql >&2
    fi
    log "installed in $((SECONDS - started)) s"
}

# The OS user running the server: ourselves, or (as root) the unprivileged $OS_USER.
ensure_os_user() {
    if [[ $(id -u) -ne 0 ]]; then
        OS_USER=$(id -un)
        return
    fi
    if ! id -u "$OS_USER" >/dev/null 2>&1; then
        log "creating system user $OS_USER"
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$OS_USER"
    fi
}

# Runs a command as the cluster's OS user (with a working directory it can read).
as_user() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$OS_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

free_port() {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || true)
    if [[ -n $port ]]; then
        printf '%s\n' "$port"
        return
    fi
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return
        fi
    done
    die "no free port found"
}

random_hex() {
    od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

state() { cat "$DIR/$1"; }

url() {
    printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$DB_ROLE" "$(state password)" "$(state port)" "$DB_NAME"
}

# Waits until the server accepts a password-authenticated TCP connection as the test role.
wait_ready() {
    local bindir=$1 port=$2 deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if accepts "$bindir" "$port"; then
            return 0
        fi
        sleep 0.1
    done
    tail -n 20 "$DIR/postgres.log" >&2 || true
    die "the server in $DIR did not accept connections within 30 s"
}

accepts() {
    local bindir=$1 port=$2
    if [[ -x $bindir/psql ]]; then
        PGPASSWORD=$(state password) PGCONNECT_TIMEOUT=2 "$bindir/psql" -X -q -w \
            -h 127.0.0.1 -p "$port" -U "$DB_ROLE" -d "$DB_NAME" -tAc 'SELECT 1' >/dev/null 2>&1
    elif [[ -x $bindir/pg_isready ]]; then
        "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -d "$DB_NAME" -U "$DB_ROLE"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

running() {
    [[ -f $DIR/data/postmaster.pid ]] && as_user "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

create_cluster() {
    local port=${WARDEN_PG_PORT:-$(free_port)} password
    password=$(random_hex 16)
    if [[ $(id -u) -eq 0 ]]; then
        chown "$OS_USER:" "$DIR"
    fi
    chmod 0700 "$DIR"
    printf '%s\n' "$port" >"$DIR/port"
    printf '%s\n' "$password" >"$DIR/password"
    chmod 0600 "$DIR/password" "$DIR/port"
    # Root's copies stay root's: the server needs neither file.
    mkdir -p "$DIR/run"
    if [[ $(id -u) -eq 0 ]]; then
        chown "$OS_USER:" "$DIR/run"
    fi
    chmod 0700 "$DIR/run"
    # The socket needs no password (it is in a directory only the OS user can enter); TCP
    # needs the role's SCRAM password. C locale and UTF-8 whatever the environment says.
    as_user "$BINDIR/initdb" -D "$DIR/data" -U "$OS_USER" --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    cat >>"$DIR/data/postgresql.conf" <<EOF

# scripts/postgres.sh: a throwaway test cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR/run'
password_encryption = 'scram-sha-256'
max_connections = 200
fsync = ${WARDEN_PG_FSYNC:-on}
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    # The role and the database, before the server first listens: single-user mode needs no
    # client and no connection. Each line is one statement.
    as_user "$BINDIR/postgres" --single -D "$DIR/data" postgres >"$DIR/single.log" 2>&1 <<EOF ||
CREATE ROLE $DB_ROLE LOGIN CREATEDB PASSWORD '$password'
CREATE DATABASE $DB_NAME OWNER $DB_ROLE ENCODING 'UTF8' TEMPLATE template0
EOF
        { cat "$DIR/single.log" >&2; die "creating the role and database failed"; }
    if grep -q 'ERROR' "$DIR/single.log"; then
        cat "$DIR/single.log" >&2
        die "creating the role and database failed"
    fi
}

start() {
    local port
    port=$(state port)
    if running; then
        log "already running in $DIR"
    else
        # A crash (stop immediate, kill -9) may leave a stale pid file: pg_ctl and the server
        # handle that themselves.
        as_user "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 30 start >/dev/null ||
            { tail -n 20 "$DIR/postgres.log" >&2; die "the server in $DIR did not start (port $port taken?)"; }
    fi
    wait_ready "$BINDIR" "$port"
}

cmd=${1:-}
[[ -n $cmd ]] || usage
shift

case $cmd in
start)
    BINDIR=$(find_bindir)
    if [[ -z $BINDIR ]]; then
        install_postgresql
        BINDIR=$(find_bindir)
        [[ -n $BINDIR ]] || die "no initdb under /usr/lib/postgresql/*/bin after installing"
    fi
    ensure_os_user
    if [[ $# -ge 1 ]]; then
        DIR=$1
        mkdir -p "$DIR"
    else
        DIR=$(mktemp -d "${TMPDIR:-/tmp}/warden-pg.XXXXXX")
    fi
    DIR=$(cd "$DIR" && pwd)
    if [[ -f $DIR/data/PG_VERSION ]]; then
        if [[ $(id -u) -eq 0 ]]; then
            OS_USER=$(stat -c %U "$DIR/data")
        fi
    else
        # The server's user must be able to reach DIR: refuse parents it cannot traverse.
        as_user test -x "$(dirname "$DIR")" || die "$OS_USER cannot enter $(dirname "$DIR")"
        log "creating a cluster in $DIR with $BINDIR"
        create_cluster
    fi
    printf '%s\n' "$BINDIR" >"$DIR/bindir"
    start
    log "ready: $DIR (port $(state port)); stop with: $0 stop $DIR"
    url
    ;;
stop | url | status | psql | destroy)
    [[ $# -ge 1 ]] || usage
    DIR=$(cd "$1" && pwd)
    shift
    [[ -f $DIR/port && -f $DIR/bindir ]] || die "$DIR holds no cluster made by this script"
    BINDIR=$(state bindir)
    if [[ $(id -u) -eq 0 ]]; then
        OS_USER=$(stat -c %U "$DIR/data")
    fi
    case $cmd in
    stop)
        mode=${1:-fast}
        [[ $mode == fast || $mode == immediate ]] || die "stop mode is fast or immediate, not $mode"
        if running; then
            as_user "$BINDIR/pg_ctl" -D "$DIR/data" -m "$mode" -w -t 30 stop >/dev/null
            log "stopped ($mode): $DIR"
        else
            log "not running: $DIR"
        fi
        ;;
    url) url ;;
    status) accepts "$BINDIR" "$(state port)" ;;
    psql)
        PGPASSWORD=$(state password) exec "$BINDIR/psql" -X -w -h 127.0.0.1 -p "$(state port)" \
            -U "$DB_ROLE" -d "$DB_NAME" "$@"
        ;;
    destroy)
        if running; then
            as_user "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w -t 30 stop >/dev/null || true
        fi
        rm -rf -- "$DIR"
        log "destroyed: $DIR"
        ;;
    esac
    ;;
*) usage ;;
esac
