#!/usr/bin/env bash
# A private PostgreSQL server for Stepd's tests and CI: its own cluster in its own directory, on
# 127.0.0.1 at a fixed non-default port, fsync on, database `stepd_test`.
#
#   bash scripts/postgres.sh [start]   installs `postgresql` if missing (root), creates the cluster
#                                      if missing, starts it if stopped; prints on stdout
#                                      export STEPD_TEST_PG_URL=postgresql://...
#                                      (so: eval "$(bash scripts/postgres.sh)")
#   bash scripts/postgres.sh stop      stops exactly this cluster (pg_ctl stop -D its directory)
#   bash scripts/postgres.sh restart   restarts this cluster (fast shutdown, then start)
#   bash scripts/postgres.sh status    exit 0 when it is running
#   bash scripts/postgres.sh url       prints the URL only
#
# Idempotent; non-interactive; no systemd. As root the server runs as the `postgres` user (via
# runuser); otherwise as the calling user. Environment:
#   STEPD_PG_PORT  port (default 54329)
#   STEPD_PG_DIR   cluster directory (default /tmp/stepd-pg-$STEPD_PG_PORT)
# Progress goes to stderr; only the export line goes to stdout.
set -euo pipefail

port=${STEPD_PG_PORT:-54329}
dir=${STEPD_PG_DIR:-/tmp/stepd-pg-$port}
data=$dir/data
db=stepd_test
user=postgres
url="postgresql://$user@127.0.0.1:$port/$db"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x $d/pg_ctl && -x $d/initdb && -x $d/postgres ]]; then echo "$d"; return 0; fi
  done
  if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
    dirname "$(command -v pg_ctl)"; return 0
  fi
  return 1
}

install_server() {
  if find_bindir >/dev/null; then return 0; fi
  [[ $(id -u) -eq 0 ]] || die "PostgreSQL server binaries not found; run as root to install the \`postgresql\` package"
  log "installing the postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  find_bindir >/dev/null || die "postgresql installed but pg_ctl/initdb not found under /usr/lib/postgresql"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  local bin=$1
  [[ -f $data/PG_VERSION ]] && as_owner "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

start() {
  install_server
  local bin
  bin=$(find_bindir)
  if [[ ! -f $data/PG_VERSION ]]; then
    log "creating cluster in $data"
    rm -rf "$data"
    mkdir -p "$data"
    if [[ $(id -u) -eq 0 ]]; then
      id postgres >/dev/null 2>&1 || die "the postgres user does not exist"
      chown postgres: "$dir" "$data"
    fi
    chmod 700 "$data"
    as_owner "$bin/initdb" -D "$data" -U "$user" --auth=trust --encoding=UTF8 --locale=C \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    # Durable like production (fsync, synchronous_commit, full_page_writes stay on); listen only
    # on loopback at our port; the Unix socket lives in the cluster directory, not /run.
    cat >>"$data/postgresql.conf" <<EOF

# --- stepd test cluster (scripts/postgres.sh) ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 300
shared_buffers = 128MB
# Stepd writes a lot of small transactions: checkpoints by WAL volume every few seconds would
# stall commits while they flush (the PostgreSQL setting production deployments use too).
max_wal_size = 8GB
checkpoint_timeout = 15min
# A backend (autovacuum included) that writes pages out asks the kernel to write them to disk
# every 256 kB, instead of leaving them dirty until the kernel's 30-second expiry writes them all
# at once: on ext4 such a burst holds up WAL flushes, and so every commit, for up to a second.
backend_flush_after = 256kB
log_min_messages = warning
EOF
  fi
  if is_running "$bin"; then
    log "already running ($data, port $port)"
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is taken by another process; set STEPD_PG_PORT"
    fi
    log "starting server on 127.0.0.1:$port ($data)"
    as_owner "$bin/pg_ctl" start -D "$data" -l "$dir/server.log" -w -t 60 >/dev/null ||
      { tail -n 20 "$dir/server.log" >&2 || true; die "the server did not start"; }
  fi
  local psql=("$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U "$user" -d postgres -v ON_ERROR_STOP=1)
  if [[ $(as_owner "${psql[@]}" -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
    log "creating database $db"
    as_owner "${psql[@]}" -c "CREATE DATABASE $db" >&2 ||
      [[ $(as_owner "${psql[@]}" -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'") == 1 ]] ||
      die "could not create database $db"
  fi
  echo "export STEPD_TEST_PG_URL=$url"
}

stop() {
  local bin
  if ! bin=$(find_bindir); then log "no PostgreSQL installed; nothing to stop"; return 0; fi
  if is_running "$bin"; then
    log "stopping server ($data)"
    as_owner "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null
  else
    log "not running ($data)"
  fi
}

restart() {
  local bin
  bin=$(find_bindir) || die "no PostgreSQL installed"
  is_running "$bin" || die "not running ($data)"
  log "restarting server ($data)"
  as_owner "$bin/pg_ctl" restart -D "$data" -l "$dir/server.log" -m fast -w -t 60 >/dev/null
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) bin=$(find_bindir) && is_running "$bin" ;;
  url) echo "$url" ;;
  *) die "usage: $0 [start|stop|restart|status|url]" ;;
esac
