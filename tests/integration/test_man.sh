#!/usr/bin/env bash
# The man pages (`sendit manpage 1|5`, written into build/man by
# cmake/man.cmake): groff finds nothing to warn about, `man -l` renders
# them, and they document what the program actually has: every command of
# `sendit --help` has its section in sendit(1) with every option of its own
# --help, and every key `sendit config` prints is in sendit.ini(5) with its
# default, the [destination NAME] keys of a destination and every type too.
# Needs groff and man (Debian: groff-base, man-db).
source "$(dirname "$0")/lib.sh"

tmp="$SENDIT_TMP/test_man.$$"
rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
for tool in groff man; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (groff-base, man-db)"; exit 1; }
done
export LC_ALL=C.UTF-8 MANWIDTH=80
# `sendit config` below must see defaults only.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(SENDIT_[A-Z0-9_]*\)=.*/\1/p' |
  grep -vE '^SENDIT_(BIN|TMP|SOURCE|SAMPLES|TEST_DATA|DEST_DRIVE)$')

check "sendit manpage 1 exits 0" "$SENDIT_BIN" manpage 1 --date 2026-01-02 >"$tmp/sendit.1"
check "sendit manpage 5 exits 0" "$SENDIT_BIN" manpage 5 --date 2026-01-02 >"$tmp/sendit.ini.5"
check "sendit manpage 3 is a usage error" \
  bash -c '"$0" manpage 3 >/dev/null 2>&1; [ $? -eq 2 ]' "$SENDIT_BIN"
check "the date and version are on the title line" \
  grep -qx '.TH SENDIT 1 "2026-01-02" "sendit '"$("$SENDIT_BIN" --version | cut -d' ' -f2)"'" "User Commands"' \
  "$tmp/sendit.1"
check "manpage is not listed by --help" bash -c '! "$0" --help | grep -qw manpage' "$SENDIT_BIN"

# The pages the build wrote are the program's (when this binary's build has them).
built="$(dirname "$SENDIT_BIN")/man"
for page in sendit.1 sendit.ini.5; do
  [ -f "$built/$page" ] || continue
  date=$(sed -n 's/^\.TH [^ ]* [15] "\([^"]*\)".*/\1/p' "$built/$page")
  "$SENDIT_BIN" manpage "${page##*.}" --date "$date" >"$tmp/fresh"
  check "build/man/$page is what the built sendit writes" cmp -s "$tmp/fresh" "$built/$page"
done

for page in sendit.1 sendit.ini.5; do
  groff -ww -man -Tutf8 -z "$tmp/$page" 2>"$tmp/groff.err"
  rc=$?
  check_eq "groff -ww finds nothing to warn about in $page" "0:" "$rc:$(head -c 300 "$tmp/groff.err")"
  man -l "$tmp/$page" >"$tmp/$page.txt" 2>"$tmp/man.err"
  rc=$?
  check_eq "man -l renders $page" "0:" "$rc:$(head -c 300 "$tmp/man.err")"
done
r1="$tmp/sendit.1.txt"
r5="$tmp/sendit.ini.5.txt"
check "sendit(1) has its title" grep -q '^SENDIT(1) ' "$r1"
check "sendit(1) has its NAME line" grep -q '^       sendit - receives DICOM studies' "$r1"
for heading in NAME SYNOPSIS DESCRIPTION COMMANDS ENVIRONMENT FILES 'EXIT STATUS' 'SEE ALSO'; do
  check "sendit(1) has $heading" grep -qx "$heading" "$r1"
done
check "sendit.ini(5) has its title" grep -q '^SENDIT.INI(5) ' "$r5"
check "sendit.ini(5) has its NAME line" grep -q '^       sendit.ini - the configuration of sendit' "$r5"

# section FILE TITLE: the rendered lines of one subsection ("   TITLE") up
# to the next one, or of a section ("TITLE", with its subsections) up to
# the next section.
section() {
  awk -v t="$2" '
    $0 == t { on = 2; next }
    $0 == "   " t { on = 1; next }
    on && /^[^ ]/ { exit }
    on == 1 && /^   [^ ]/ { exit }
    on { print }' "$1"
}
has_section() { [ -n "$(section "$1" "$2")" ]; }

# ---- sendit(1): every command, every option ----
mapfile -t commands < <("$SENDIT_BIN" --help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }')
check "sendit --help lists commands" [ "${#commands[@]}" -ge 10 ]
# options_in TITLE HELP_FILE: every --word of the help text is in TITLE's section.
options_in() {
  local title="$1" help="$2" opt missing=""
  section "$r1" "$title" >"$tmp/section"
  [ -s "$tmp/section" ] || { echo "no section '$title'"; return 1; }
  for opt in $(grep -oE -- '--[a-z][a-z0-9-]*' "$help" | sort -u); do
    grep -qF -- "$opt" "$tmp/section" || missing="$missing $opt"
  done
  [ -z "$missing" ] || { echo "'$title' lacks:$missing"; return 1; }
}
for c in "${commands[@]}"; do
  check "sendit(1) has a section for $c" grep -qx "   sendit $c" "$r1"
  "$SENDIT_BIN" "$c" --help >"$tmp/help" 2>&1
  # help and --version answer --help with the overview: they have no options.
  grep -q '^Usage: sendit COMMAND' "$tmp/help" && continue
  # deid --help is its default form's usage, checked below with the subcommands.
  [ "$c" = deid ] && continue
  check "every option of 'sendit $c --help' is in its section" options_in "sendit $c" "$tmp/help"
done
"$SENDIT_BIN" deid --help >"$tmp/help"
check "every option of 'sendit deid --help' is in sendit(1)" \
  options_in "sendit deid (de-identifying files)" "$tmp/help"
for sub in verify map; do
  "$SENDIT_BIN" deid "$sub" --help >"$tmp/help"
  check "every option of 'sendit deid $sub --help' is in sendit(1)" \
    options_in "sendit deid $sub" "$tmp/help"
done
section "$r1" ENVIRONMENT >"$tmp/env"
check "ENVIRONMENT names SENDIT_QUEUE_WORKERS and its alias" \
  bash -c 'grep -qx "       SENDIT_QUEUE_WORKERS" "$0" && grep -qx "       SENDIT_WORKERS" "$0"' "$tmp/env"

# ---- sendit.ini(5): every key with its default ----
# key_in SECTION KEY DEFAULT: the key's entry in the section says "Default:
# DEFAULT" ("empty" for ""), or "Required" when DEFAULT is "-".
key_in() {
  section "$r5" "$1" | awk -v k="$2" -v d="$3" '
    BEGIN { want = d == "-" ? "Required (no default)" : "Default: " (d == "" ? "empty" : d) }
    /^       [^ ]/ { on = ($1 == k); if (on) seen = 1 }
    on && index($0, want) { found = 1 }
    END { exit !(seen && found) }'
}
mkdir -p "$tmp/site" && cd "$tmp/site" || exit 1
"$SENDIT_BIN" config >"$tmp/config" 2>"$tmp/config.err"
check "sendit config runs on defaults" [ -s "$tmp/config" ]
# "[section]", then per key its "; written: VALUE (...)" (paths as written) and "key = value".
awk '
  /^\[/ { sec = substr($0, 2, length($0) - 2); written = ""; next }
  /^; written: / { w = substr($0, 12); sub(/ \(relative to .*\)$/, "", w); written = w; has = 1; next }
  /^[a-z_]+ =/ { k = $1; v = substr($0, index($0, "=") + 2); if (has) v = written
                 print sec "\t" k "\t" v; has = 0 }' "$tmp/config" >"$tmp/keys"
check "sendit config printed keys" [ "$(wc -l <"$tmp/keys")" -ge 40 ]
missing=""
while IFS=$'\t' read -r sec key def; do
  key_in "[$sec]" "$key" "$def" || missing="$missing [$sec]$key=$def"
done <"$tmp/keys"
check_eq "every key of sendit config is in sendit.ini(5) with its default" "" "$missing"

# A destination of the folder type: its common and type keys, as `sendit config` prints them.
cat >"$tmp/site/sendit.ini" <<INI
[pipeline]
stages = import,send
[destination out]
type = folder
path = $tmp/site/out
INI
"$SENDIT_BIN" config --config "$tmp/site/sendit.ini" >"$tmp/config.dest" 2>&1
awk '
  /^\[destination / { on = 1; next }
  /^\[/ { on = 0 }
  on && /^; / { c = $0 }
  on && /^[a-z_]+ =/ { v = substr($0, index($0, "=") + 2); print $1 "\t" v "\t" c }' \
  "$tmp/config.dest" >"$tmp/dest.keys"
check "sendit config printed the destination's keys" [ "$(wc -l <"$tmp/dest.keys")" -ge 12 ]
missing=""
while IFS=$'\t' read -r key value comment; do
  section "$r5" "[destination NAME]" | grep -q "^       $key\( \|$\)" || missing="$missing $key"
  # A type key left at its default says so: its default is the page's.
  if [[ $comment == *"(default)" ]]; then
    key_in "type = folder" "$key" "$value" || missing="$missing $key=$value"
  fi
done <"$tmp/dest.keys"
check_eq "every destination key is in sendit.ini(5)" "" "$missing"
check "the folder type's required path is marked" key_in "type = folder" path -
# Every type built: the configuration's error for an unknown type names them.
printf '[destination x]\ntype = nosuch\n' >"$tmp/site/bad.ini"
types=$("$SENDIT_BIN" config --config "$tmp/site/bad.ini" 2>&1 | sed -n 's/.*built: \([^)]*\)).*/\1/p')
check "the unknown type's error names the types" [ -n "$types" ]
for t in ${types//,/ }; do
  check "sendit.ini(5) has the keys of type $t" has_section "$r5" "type = $t"
done

finish
