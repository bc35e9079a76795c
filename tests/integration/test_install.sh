#!/usr/bin/env bash
# `cmake --install` with DESTDIR: the program, the installed sendit.ini (every
# path absolute, and valid for `sendit config`), the systemd units naming the
# installed binary, the logrotate snippet, the man pages and the deid recipes;
# an edited sendit.ini is kept by a second install.
source "$(dirname "$0")/lib.sh"
build="$(dirname "$SENDIT_BIN")"
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
sysconf=$(sed -n 's/^SENDIT_SYSTEM_CONFIG:STRING=//p' "$build/CMakeCache.txt")
unitdir=$(sed -n 's/^SENDIT_SYSTEMD_UNIT_DIR:PATH=//p' "$build/CMakeCache.txt")
mkdir -p "$SENDIT_TMP"
DEST=$(mktemp -d "$SENDIT_TMP/install.XXXXXX")
trap '[ -z "${KEEP_TMP:-}" ] && rm -rf "$DEST"' EXIT

DESTDIR="$DEST" cmake --install "$build" >"$DEST.log" 2>&1
check_eq "cmake --install with DESTDIR works" 0 $?
check_eq "the installed program runs" "$("$SENDIT_BIN" --version)" "$("$DEST$prefix/bin/sendit" --version 2>&1)"
ini="$DEST$sysconf"
check "the configuration goes to $sysconf" test -s "$ini"
check "with no relative path left" bash -c "! grep -Eq '^[a-z_]+ = \./' '$ini'"
check "it lists the data under the state folder" grep -qx "folder = $prefix/var/lib/sendit/data" "$ini"
check "sendit config accepts it" "$SENDIT_BIN" config --config "$ini"
for unit in sendit.service sendit-worker.service; do
  check "$unit names the installed binary" grep -q "^ExecStart=$prefix/bin/sendit .*--config $sysconf\$" "$DEST$unitdir/$unit"
done
check "the logrotate snippet is installed" grep -q "^$prefix/var/log/sendit/\*.log {" "$DEST$prefix/etc/logrotate.d/sendit"
check "the man pages are installed" test -s "$DEST$prefix/share/man/man1/sendit.1" -a -s "$DEST$prefix/share/man/man5/sendit.ini.5"
for page in man1/sendit.1 man5/sendit.ini.5; do
  check "$page names the installed configuration file" grep -qF "$sysconf" "$DEST$prefix/share/man/$page"
done
check "the deid recipes are installed" test -s "$DEST$prefix/share/sendit/deid-recipes/deid.dicom"

sed -i 's/^workers = 2$/workers = 7/' "$ini"
DESTDIR="$DEST" cmake --install "$build" >"$DEST.log2" 2>&1
check_eq "a second install works" 0 $?
check "and keeps the edited configuration" grep -qx "workers = 7" "$ini"
check "saying so" grep -q "Kept: $ini" "$DEST.log2"
rm -f "$DEST.log" "$DEST.log2"
finish
