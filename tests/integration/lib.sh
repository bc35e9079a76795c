# Shared helpers for the integration tests (sourced, not run).
# ctest sets SENDIT_BIN, SENDIT_TMP and SENDIT_SOURCE.
set -u
: "${SENDIT_BIN:?SENDIT_BIN must point to the sendit binary}"
: "${SENDIT_TMP:=/tmp}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MKDICOM="/usr/bin/python3 $HERE/mkdicom.py"
PASSED=0
FAILED=0

ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
check() { # check "description" command...
  local what="$1"; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
check_eq() { # check_eq "description" expected actual
  if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected '$2', got '$3'"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}

# The database: a SQLite file in the site, or, when SENDIT_TEST_DATABASE is a
# PostgreSQL URL, a fresh database on that server per site (dropped by stop_site).
is_pg() { [[ ${SENDIT_TEST_DATABASE:-} == postgres://* || ${SENDIT_TEST_DATABASE:-} == postgresql://* ]]; }
PG_SITE_DBS=()
# The URL with its database name replaced by $2 (query parameters kept).
pg_url_with_db() {
  local base="${1%%\?*}" query=""
  [[ $1 == *\?* ]] && query="?${1#*\?}"
  echo "${base%/*}/$2$query"
}
pg_admin() { psql -X -q -At -v ON_ERROR_STOP=1 "$SENDIT_TEST_DATABASE" "$@"; }
new_site_database() {
  if ! is_pg; then
    SITE_DB="${SENDIT_TEST_DATABASE:-$SITE/sendit.db}"
    return
  fi
  local name
  name="site_$(tr -c 'a-zA-Z0-9\n' _ <<<"${SITE##*.}" | tr 'A-Z' 'a-z')_$$_$RANDOM"
  pg_admin -c "CREATE DATABASE $name" || { echo "cannot create database $name" >&2; exit 1; }
  PG_SITE_DBS+=("$name")
  SITE_DB="$(pg_url_with_db "$SENDIT_TEST_DATABASE" "$name")"
}
drop_site_databases() {
  local name
  for name in "${PG_SITE_DBS[@]}"; do
    pg_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  done
  PG_SITE_DBS=()
}

# A fresh site: folders, config and database of its own under $SENDIT_TMP.
new_site() {
  # An empty SITE would put a site at / : make the parent, and stop if no folder came.
  mkdir -p "$SENDIT_TMP"
  SITE="$(mktemp -d "$SENDIT_TMP/site.XXXXXX")" || { echo "cannot make a site under $SENDIT_TMP" >&2; exit 1; }
  [ -n "$SITE" ] && [ -d "$SITE" ] || { echo "no site folder under $SENDIT_TMP" >&2; exit 1; }
  mkdir -p "$SITE/data"
  new_site_database
  cat >"$SITE/sendit.ini" <<INI
[input]
folder = $SITE/data
[storage]
folder = $SITE/storage
work = $SITE/data/.work
quarantine = $SITE/quarantine
low_water_mb = 0
high_water_mb = 0
[database]
url = $SITE_DB
[queue]
workers = 2
lease_seconds = 10
[daemon]
logs = $SITE/logs
pidfile = $SITE/sendit.pid
log_level = debug
INI
  export SENDIT_CONFIG_FILE="$SITE/sendit.ini"
}

sendit() { "$SENDIT_BIN" "$@" --config "$SITE/sendit.ini"; }

# Runs SQL on the site's database; rows as "a|b", NULL as empty, on both backends.
sql() {
  if is_pg; then
    local args=() q
    for q in "$@"; do args+=(-c "$q"); done
    psql -X -q -At -v ON_ERROR_STOP=1 "$SITE_DB" "${args[@]}"
  else
    # A daemon may hold the write lock for a moment: wait for it (as sendit does).
    sqlite3 -batch -noheader -cmd ".timeout 10000" "$SITE_DB" "$@"
  fi
}

# wait_for SECONDS command...: runs the command every 0.1 s until it
# succeeds. Give a function (such as sql_is) rather than a $(...) argument,
# which would be expanded only once.
wait_for() {
  local limit=$(($1 * 10)); shift
  for ((i = 0; i < limit; i++)); do
    if "$@" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
# free_port: a TCP port on loopback that nothing listens on, for a peer the
# test starts. It is drawn from 20000-32767, below the kernel's ephemeral range
# (32768-60999), so that no outgoing connection of a test running beside this
# one can take it between this check and the peer's bind (CI once saw Orthanc
# fail to start on a port the kernel's own pick had just handed out).
free_port() {
  /usr/bin/python3 - <<'PY'
import random, socket
for _ in range(200):
    port = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port in 20000-32767")
PY
}
sql_is() { [ "$(sql "$2")" = "$1" ]; }             # sql_is EXPECTED "SQL"
sql_ge() { [ "$(sql "$2")" -ge "$1" ] 2>/dev/null; } # sql_ge MINIMUM "SQL"

batch_status() { sql "SELECT status FROM batch WHERE uid = '$1'"; }
batch_is() { [ "$(batch_status "$1")" = "$2" ]; }
stop_site() {
  if [ -f "$SITE/sendit.pid" ]; then
    sendit stop_watcher --timeout 30 >/dev/null 2>&1 || true
  fi
  drop_site_databases
}
