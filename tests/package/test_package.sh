#!/usr/bin/env bash
# The Debian package, as an operator meets it: scripts/build-deb.sh builds it
# (lintian must report no error), `apt-get install ./sendit_*.deb` installs it
# into this machine, and then, as the system user sendit with the installed
# /etc/sendit/sendit.ini: --version, config, an import, the daemon with the
# installed logrotate snippet (SIGHUP reopens the log). The man pages render
# without a groff warning, `systemd-analyze verify` accepts both units, an
# edited configuration survives a reinstall, and remove and purge keep the
# data. Needs root (or sudo without a password): it installs a package.
#
#   bash tests/package/test_package.sh [WORKDIR]      (default build-deb/)
#
# It refuses to run where /var/lib/sendit holds a site it did not make, and
# removes what it made (package, user, folders) when it ends.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="${1:-$root/build-deb}"
mkdir -p "$work"
export SENDIT_BIN=/usr/bin/sendit
source "$root/tests/integration/lib.sh"

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "test_package: needs root or passwordless sudo (it installs a package)" >&2
    exit 1
  fi
fi
R() { "${as_root[@]}" "$@"; }
as_sendit() { (cd / && R runuser -u sendit -- "$@"); }
MARK=/var/lib/sendit/.sendit-package-test
export DEBIAN_FRONTEND=noninteractive

# --- a machine of its own -----------------------------------------------------------------
if dpkg-query -W -f='${Status}' sendit 2>/dev/null | grep -q "install ok installed" ||
  { [ -e /var/lib/sendit ] && ! [ -e "$MARK" ]; }; then
  if ! [ -e "$MARK" ]; then
    echo "test_package: this machine has sendit installed or a site in /var/lib/sendit; not touching it" >&2
    exit 1
  fi
fi
forget_all() { # what an earlier run of this test left
  R apt-get purge -y -qq sendit >/dev/null 2>&1
  getent passwd sendit >/dev/null && R deluser --quiet --system sendit >/dev/null 2>&1
  getent group sendit >/dev/null && R delgroup --quiet --system sendit >/dev/null 2>&1
  R rm -rf /var/lib/sendit /var/log/sendit /etc/sendit
}
[ -e "$MARK" ] && forget_all
trap 'as_sendit sendit stop_watcher --timeout 30 >/dev/null 2>&1; forget_all' EXIT

# --- build: debhelper, lintian ------------------------------------------------------------
deb=$(bash "$root/scripts/build-deb.sh" "$work" 2>"$work/lintian.log" | tail -1)
status=$?
check_eq "scripts/build-deb.sh builds the package and lintian reports no error" 0 "$status"
[ "$status" -eq 0 ] || { tail -30 "$work/lintian.log"; finish; exit 1; }
check "lintian's report names no error (E:)" bash -c "! grep -q '^E: ' '$work/lintian.log'"
version=$(sed -n 's/^project(sendit VERSION \([0-9.]*\) .*/\1/p' "$root/CMakeLists.txt")
fields=$(dpkg-deb -f "$deb" Package Version Depends)
check "Depends has the linked libraries (dpkg-shlibdeps)" grep -q "libsqlite3-0" <<<"$fields"
check "and the ones loaded when first needed" \
  bash -c "grep -q 'libpq5' <<<'$fields' && grep -q 'libmicrohttpd12' <<<'$fields' && grep -q 'libssl3' <<<'$fields'"
check "the config and the logrotate snippet are conffiles" \
  bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/sendit/sendit.ini && dpkg-deb -I '$deb' conffiles | grep -qx /etc/logrotate.d/sendit"

# --- the man pages of the package: groff -ww, man -l -------------------------------------
pages="$work/pages"
rm -rf "$pages" && mkdir -p "$pages" && dpkg-deb -x "$deb" "$pages"
for page in usr/share/man/man1/sendit.1.gz usr/share/man/man5/sendit.ini.5.gz; do
  if [ -f "$pages/$page" ]; then
    warnings=$(zcat "$pages/$page" | groff -ww -man -Tutf8 -z 2>&1)
    check_eq "groff -ww renders $(basename "$page" .gz) without a warning" "" "$warnings"
    check "man -l renders it" bash -c "MANWIDTH=80 man -l '$pages/$page' 2>/dev/null | grep -q sendit"
    check "and it names the installed configuration file" \
      bash -c "MANWIDTH=200 man -l '$pages/$page' 2>/dev/null | grep -q /etc/sendit/sendit.ini"
  else
    not_ok "the package has $page"
  fi
done

# --- install ------------------------------------------------------------------------------
out=$(R apt-get install -y -q "$deb" 2>&1)
check_eq "apt-get install ./sendit_*.deb works" 0 $?
echo "$out" | tail -3
R touch "$MARK"
check_eq "sendit --version" "sendit $version" "$(/usr/bin/sendit --version 2>&1)"
check "the system user sendit exists, without a shell" \
  bash -c "getent passwd sendit | grep -q ':/var/lib/sendit:/usr/sbin/nologin$'"
check "with a system uid" bash -c "[ \$(id -u sendit) -lt 1000 ]"
for dir in /var/lib/sendit /var/lib/sendit/data /var/lib/sendit/storage /var/log/sendit; do
  check_eq "$dir belongs to sendit" "sendit:sendit" "$(stat -c %U:%G "$dir" 2>/dev/null)"
done
check_eq "the input folder is group-writable for senders (setgid)" 2770 "$(stat -c %a /var/lib/sendit/data)"
check "the units are installed" test -f /lib/systemd/system/sendit.service -a -f /lib/systemd/system/sendit-worker.service
verify=$(cd / && systemd-analyze verify /lib/systemd/system/sendit.service /lib/systemd/system/sendit-worker.service 2>&1)
check_eq "systemd-analyze verify accepts both units" "" "$verify"
check "the daemon's unit runs start_watcher in the foreground as sendit" \
  bash -c "grep -q '^ExecStart=/usr/bin/sendit start_watcher --foreground --config /etc/sendit/sendit.ini$' /lib/systemd/system/sendit.service && grep -q '^User=sendit$' /lib/systemd/system/sendit.service"
check "it may write its data and logs and nothing else" \
  bash -c "grep -q '^ProtectSystem=strict$' /lib/systemd/system/sendit.service && grep -q '^ReadWritePaths=/var/lib/sendit /var/log/sendit$' /lib/systemd/system/sendit.service"

# --- as the system user, with the installed configuration --------------------------------
cfg=$(as_sendit sendit config 2>&1)
check_eq "sendit config (no --config, no ./sendit.ini) exits 0" 0 $?
check "and reads /etc/sendit/sendit.ini" grep -q "then /etc/sendit/sendit.ini, then" <<<"$cfg"
check "whose input folder is /var/lib/sendit/data" grep -qx "folder = /var/lib/sendit/data" <<<"$cfg"
check "and database /var/lib/sendit/sendit.db" grep -qx "url = /var/lib/sendit/sendit.db" <<<"$cfg"

study=/var/lib/sendit/data/PKGTEST1
R /usr/bin/python3 "$root/tests/integration/mkdicom.py" "$study" 3 --patient PKG1 >/dev/null
R chown -R sendit:sendit "$study"
as_sendit sendit import_dicomdir "$study" >"$work/import.log" 2>&1
check_eq "sendit import_dicomdir as sendit imports a study" 0 $?
check_eq "three images are stored under /var/lib/sendit/storage" 3 \
  "$(R find /var/lib/sendit/storage -name '*.dcm' -not -path '*/.work/*' | wc -l)"
check "sendit batches lists the batch DONE" bash -c "cd / && runuser -u sendit -- sendit batches | grep PKGTEST1 | grep -q DONE"

# --- the daemon, detached, and the installed logrotate snippet ---------------------------
as_sendit sendit start_watcher >/dev/null 2>&1
check_eq "sendit start_watcher as sendit starts the daemon" 0 $?
R /usr/bin/python3 "$root/tests/integration/mkdicom.py" /var/lib/sendit/data/PKGTEST2.tmp1 2 \
  --patient PKG2 --study 1.2.826.0.1.3680043.10.1234.2 >/dev/null
R chown -R sendit:sendit /var/lib/sendit/data/PKGTEST2.tmp1
R mv /var/lib/sendit/data/PKGTEST2.tmp1 /var/lib/sendit/data/PKGTEST2
imported() { as_sendit sendit batches 2>/dev/null | grep PKGTEST2 | grep -q DONE; }
check "the daemon imports a folder renamed into the input" wait_for 30 imported
state="$work/logrotate.state"
R rm -f "$state"
R logrotate -f -s "$state" /etc/logrotate.d/sendit
check_eq "logrotate -f with the installed snippet works" 0 $?
check "it moved the log aside" R test -s /var/log/sendit/watcher.log.1
reopened() { R grep -q "log reopened (SIGHUP)" /var/log/sendit/watcher.log; }
check "and the daemon (SIGHUP) writes to a new watcher.log" wait_for 10 reopened
as_sendit sendit stop_watcher >/dev/null 2>&1
check_eq "sendit stop_watcher stops it" 0 $?

# --- an edited configuration survives a reinstall; remove keeps the data -----------------
R sed -i 's/^workers = 2$/workers = 3/' /etc/sendit/sendit.ini
R apt-get remove -y -qq sendit >/dev/null 2>&1
check_eq "apt-get remove sendit works" 0 $?
check "the program is gone" test ! -e /usr/bin/sendit
check "the database survives remove" R test -s /var/lib/sendit/sendit.db
check_eq "and the stored images" 5 "$(R find /var/lib/sendit/storage -name '*.dcm' -not -path '*/.work/*' | wc -l)"
check "and the logs" R test -s /var/log/sendit/watcher.log.1
check "and the edited configuration" grep -qx "workers = 3" /etc/sendit/sendit.ini
R apt-get install -y -qq "$deb" >/dev/null 2>&1
check "installed again, the edited configuration is kept" grep -qx "workers = 3" /etc/sendit/sendit.ini
check "and the batches are there" bash -c "cd / && runuser -u sendit -- sendit batches | grep -c DONE | grep -qx 2"

R apt-get purge -y -qq sendit >/dev/null 2>&1
check_eq "apt-get purge sendit works" 0 $?
check "purge deletes sendit's configuration" test ! -e /etc/sendit/sendit.ini
check "but not the database" R test -s /var/lib/sendit/sendit.db
check_eq "nor the images" 5 "$(R find /var/lib/sendit/storage -name '*.dcm' -not -path '*/.work/*' | wc -l)"
finish
