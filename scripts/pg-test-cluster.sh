#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests and benchmarks: Debian's
# postgresql 15 binaries, initdb in a folder under /tmp, no systemd.
#
#   scripts/pg-test-cluster.sh start     # create (first time) and start; prints the URL
#   scripts/pg-test-cluster.sh url       # the URL of the running cluster
#   scripts/pg-test-cluster.sh restart   # pg_ctl restart (the tests use it to cut connections)
#   scripts/pg-test-cluster.sh stop      # stop it and delete its folder
#
# Environment:
#   SENDIT_PG_DIR   the cluster's folder (default /tmp/sendit-pg-test); data/, log, port and the
#                   Unix socket live there
#   SENDIT_PG_PORT  the TCP port on 127.0.0.1 (default: the first free one from 54320)
#   SENDIT_PG_BIN   where initdb and pg_ctl are (default /usr/lib/postgresql/15/bin)
#
# The URL is postgresql://postgres@127.0.0.1:PORT/sendit_test (trust authentication on
# loopback only). fsync stays ON: commits really reach the disk, as in production, so
# benchmark figures are honest; the cost is slower tests, not different results.
# Every command is idempotent: start on a running cluster prints its URL, stop on
# none does nothing.
set -euo pipefail

DIR="${SENDIT_PG_DIR:-/tmp/sendit-pg-test}"
BIN="${SENDIT_PG_BIN:-/usr/lib/postgresql/15/bin}"
DB=sendit_test

die() {
  echo "pg-test-cluster: $*" >&2
  exit 1
}

# initdb and the server refuse to run as root: run them as the postgres user
# the Debian package creates. Anyone else runs them as themselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  if [ -n "${SENDIT_PG_PORT:-}" ]; then
    [[ $SENDIT_PG_PORT =~ ^[0-9]+$ ]] || die "SENDIT_PG_PORT is not a port number: $SENDIT_PG_PORT"
    port_in_use "$SENDIT_PG_PORT" && die "port $SENDIT_PG_PORT (SENDIT_PG_PORT) is already in use"
    echo "$SENDIT_PG_PORT"
    return
  fi
  for ((p = 54320; p < 54420; p++)); do
    if ! port_in_use "$p"; then
      echo "$p"
      return
    fi
  done
  die "no free port in 54320-54419; set SENDIT_PG_PORT"
}

url() { echo "postgresql://postgres@127.0.0.1:$(cat "$DIR/port")/$DB"; }

running() { [ -f "$DIR/port" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; }

psql_admin() {
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR" -p "$(cat "$DIR/port")" -U postgres \
    -d postgres "$@"
}

start() {
  [ -x "$BIN/initdb" ] || die "no PostgreSQL at $BIN (install Debian's postgresql, or set SENDIT_PG_BIN)"
  if running; then
    url
    return
  fi
  if [ ! -f "$DIR/data/PG_VERSION" ]; then
    rm -rf "$DIR"
    mkdir -p "$DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
    chmod 700 "$DIR"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 ||
      die "initdb failed; see $DIR/initdb.log"
  fi
  local port try
  # A port found free may be taken before the server binds it (any local
  # connection may get it as its own port): the log says why, and the start
  # is tried again, on another port unless SENDIT_PG_PORT names one.
  for try in 1 2 3; do
    port="$(pick_port)"
    echo "$port" >"$DIR/port"
    # Loopback and the folder's socket only. Enough connections for the test suite
    # running two scripts at once, each with a daemon, workers and CLI calls.
    if as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -t 60 \
      -o "-p $port -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" \
      start >/dev/null; then
      break
    fi
    echo "pg-test-cluster: the server did not start on port $port (try $try); its log ends:" >&2
    tail -n 15 "$DIR/log" >&2 || true
    [ "$try" = 3 ] && die "the server did not start; see $DIR/log"
    sleep 1
  done
  if [ "$(psql_admin -At -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 0 ]; then
    psql_admin -c "CREATE DATABASE $DB" || die "cannot create database $DB"
  fi
  url
}

stop() {
  if [ -f "$DIR/data/PG_VERSION" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url)
    running || die "no cluster is running in $DIR (run: $0 start)"
    url
    ;;
  restart)
    running || die "no cluster is running in $DIR (run: $0 start)"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w -t 60 restart >/dev/null ||
      die "restart failed; see $DIR/log"
    url
    ;;
  *)
    echo "usage: $0 start|stop|url|restart" >&2
    exit 2
    ;;
esac
