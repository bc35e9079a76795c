#!/usr/bin/env bash
# Folder destination benchmark (issue 16): the package written by the type (sendit_dest_drive folder:
# one tar of every file, each member and the whole archive hashed with SHA-256, the manifest, fsync of
# both, rename, fsync of the folder) against `tar -cf` of the same files (no hashing, no fsync) and
# against `tar -cf` followed by `sync FILE` (the same durability as the package), one corpus
# (bench/gen_corpus.py: CT 512x512), the contenders alternating in each round, inputs read once just
# before each run so every contender starts from the page cache. Then zstd and gzip packages of a
# subset against `tar -cf` of that subset.
#
#   bench/run_deliver_folder.sh [--files N] [--studies S] [--rounds R] [--subset M]
#       (defaults 2000 files, 20 studies, 3 rounds, 200 files for the compressed runs)
#   SENDIT_DEST_DRIVE=/path/to/sendit_dest_drive bench/run_deliver_folder.sh
# Results: a markdown table on stdout (MB/s and seconds: median and range over the rounds), also in
# bench/out/deliver-folder-results.md. The scratch folder under $TMPDIR (default /tmp) is removed at the end.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
FILES=2000 STUDIES=20 ROUNDS=3 SUBSET=200
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift ;;
    --studies) STUDIES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --subset) SUBSET=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run_deliver_folder.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for v in FILES STUDIES ROUNDS SUBSET; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_deliver_folder.sh: bad value for $v" >&2; exit 2; }
done
PER=$((FILES / STUDIES))
FILES=$((PER * STUDIES))
DRIVE=${SENDIT_DEST_DRIVE:-$ROOT/build/sendit_dest_drive}
[ -x "$DRIVE" ] || { echo "run_deliver_folder.sh: no sendit_dest_drive at $DRIVE (build with -DSENDIT_TESTS=ON)" >&2; exit 2; }
command -v zstd >/dev/null || echo "note: no zstd program (tar --zstd is not compared)" >&2
work=$(mktemp -d "${TMPDIR:-/tmp}/sendit-bench-folder.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "corpus: $FILES CT files of 512x512 in $STUDIES studies under $work/corpus" >&2
$PY "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$PER" --out "$work/corpus" >/dev/null || exit 1
mapfile -t all < <(cd "$work/corpus" && find . -name '*.dcm' | sort)
subset=("${all[@]:0:$SUBSET}")
mb_of() { (cd "$work/corpus" && du -cm --apparent-size "$@" | tail -1 | cut -f1); }
MB=$(mb_of "${all[@]}")
SUB_MB=$(mb_of "${subset[@]}")

# Inputs into the page cache, and no dirty pages left by the previous contender (its write-back would
# otherwise be charged to whoever runs next).
warm() { (cd "$work/corpus" && cat "$@" >/dev/null) && sync; }
# run NAME COMMAND...: one timed run in the corpus folder, its seconds appended to NAME.times.
run() {
  local name=$1; shift
  rm -rf "$work/out" && mkdir -p "$work/out"
  (cd "$work/corpus" && /usr/bin/time -f "%e %U %S" -o "$work/$name.t" "$@") >"$work/$name.log" 2>&1 ||
    { echo "$name failed: $(tail -3 "$work/$name.log")" >&2; exit 1; }
  awk '{print $1}' "$work/$name.t" >>"$work/$name.times"
  awk '{printf "%.2f\n", $2 + $3}' "$work/$name.t" >>"$work/$name.cpu"   # user + system, both threads
}



for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  warm "${all[@]}"; run package "$DRIVE" folder bench path="$work/out" compression=none -- "${all[@]}"
  warm "${all[@]}"; run tar tar -cf "$work/out/all.tar" "${all[@]}"
  warm "${all[@]}"; run tar_sync bash -c 'tar -cf "$0/out/all.tar" "$@" && sync "$0/out/all.tar"' "$work" "${all[@]}"
done
for r in $(seq "$ROUNDS"); do
  echo "compressed round $r/$ROUNDS ($SUBSET files)" >&2
  warm "${subset[@]}"; run zstd "$DRIVE" folder bench path="$work/out" compression=zstd -- "${subset[@]}"
  ZSIZE=$(find "$work/out" -name '*.tar.zst' -printf '%s')
  warm "${subset[@]}"; run gzip "$DRIVE" folder bench path="$work/out" compression=gzip -- "${subset[@]}"
  GSIZE=$(find "$work/out" -name '*.tar.gz' -printf '%s')
  warm "${subset[@]}"; run sub_tar tar -cf "$work/out/all.tar" "${subset[@]}"
done

median() { sort -n "$work/$1.times" | awk '{t[NR]=$1} END {print (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2}'; }
range() { sort -n "$work/$1.times" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%s-%s", lo, hi}'; }
cpu() { sort -n "$work/$1.cpu" | awk '{t[NR]=$1} END {print (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2}'; }
row() { # row NAME LABEL MB
  local med
  med=$(median "$1")
  awk -v m="$med" -v mb="$3" -v lbl="$2" -v rg="$(range "$1")" -v c="$(cpu "$1")" \
    'BEGIN {printf "| %s | %.0f | %s (%s) | %s |\n", lbl, mb / m, m, rg, c}'
}
pct() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN {printf "%.0f%%", 100 * b / a}'; }
mkdir -p "$HERE/out"
{
  echo "Folder destination, $FILES CT files of 512x512 ($MB MB) in one batch, $ROUNDS rounds alternating, $(date -u +%F)"
  echo
  echo "| contender | MB/s (median) | seconds: median (range) | CPU seconds (user + system), median |"
  echo "|---|---|---|---|"
  row package "package (tar + sha256 of members and archive + manifest + fsync + rename)" "$MB"
  row tar "tar -cf (no hash, no fsync)" "$MB"
  row tar_sync "tar -cf, then sync FILE" "$MB"
  echo
  echo "package at $(pct package tar) of tar -cf's speed, $(pct package tar_sync) of tar -cf + sync's;"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared)."
  echo
  echo "Compression, $SUBSET files ($SUB_MB MB):"
  echo
  echo "| contender | MB/s (median) | seconds: median (range) | CPU seconds (user + system), median |"
  echo "|---|---|---|---|"
  row zstd "package, zstd level 3" "$SUB_MB"
  row gzip "package, gzip level 6" "$SUB_MB"
  row sub_tar "tar -cf (no compression)" "$SUB_MB"
  echo
  echo "Archive sizes: zstd $((ZSIZE / 1048576)) MiB, gzip $((GSIZE / 1048576)) MiB, of $SUB_MB MB."
  echo "gzip takes $(awk -v a="$(median gzip)" -v b="$(median zstd)" 'BEGIN {printf "%.1f", a / b}')x zstd's time."
} | tee "$HERE/out/deliver-folder-results.md"
