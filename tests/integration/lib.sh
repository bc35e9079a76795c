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

# A fresh site: folders, config and database of its own under $SENDIT_TMP.
new_site() {
  SITE="$(mktemp -d "$SENDIT_TMP/site.XXXXXX")"
  mkdir -p "$SITE/data"
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
url = ${SENDIT_TEST_DATABASE:-$SITE/sendit.db}
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

sql() { sqlite3 -batch -noheader "$SITE/sendit.db" "$@"; }

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
sql_is() { [ "$(sql "$2")" = "$1" ]; }             # sql_is EXPECTED "SQL"
sql_ge() { [ "$(sql "$2")" -ge "$1" ] 2>/dev/null; } # sql_ge MINIMUM "SQL"

batch_status() { sql "SELECT status FROM batch WHERE uid = '$1'"; }
batch_is() { [ "$(batch_status "$1")" = "$2" ]; }
stop_site() {
  if [ -f "$SITE/sendit.pid" ]; then
    sendit stop_watcher --timeout 30 >/dev/null 2>&1 || true
  fi
}
