#!/usr/bin/env bash
# Delivery to DCMTK storescp: sendit's send stage (the batch_stage row's start to finish) against storescu
# +sd, 2,000 CT files of 256x256, alternating, two rounds, each on its own corpus (fresh UIDs).
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export SENDIT_BIN="${SENDIT_BIN:-$ROOT/build/sendit}" SENDIT_TMP="${SENDIT_TMP:-/tmp/sendit-bench-deliver}" SENDIT_SOURCE="$ROOT"
. "$ROOT/tests/integration/lib.sh"
export TCP_NODELAY=1 SENDIT_QUEUE_POLL_SECONDS=1
new_site
B=$SENDIT_TMP/corpus
for r in 1 2; do [ -d $B$r ] || $MKDICOM $B$r 2000 --pixels 256 --sop-prefix 1.2.826.0.1.3680043.10.990$r >/dev/null; done
du -sh ${B}1
PORT=$((20000 + RANDOM % 10000))
rm -rf $SENDIT_TMP/scp; mkdir -p $SENDIT_TMP/scp
storescp -od $SENDIT_TMP/scp -aet BENCH "$PORT" & SCP=$!
sleep 1
printf '[pipeline]\nstages = import,send\n[destination s]\ntype = dicom\nhost = 127.0.0.1\nport = %s\ncalled_ae = BENCH\n' "$PORT" >>"$SITE/sendit.ini"
sendit start_watcher >/dev/null
for round in 1 2; do
  cat $B$round/* >/dev/null
  rm -rf $SENDIT_TMP/scp/*
  t0=$(date +%s.%N); storescu -aec BENCH +sd 127.0.0.1 "$PORT" $B$round >/dev/null 2>&1; t1=$(date +%s.%N)
  echo "storescu round $round: $(echo "$t1 - $t0" | bc) s, $(ls $SENDIT_TMP/scp | wc -l) files"
  rm -rf $SENDIT_TMP/scp/*
  mkdir -p "$SITE/stage"; rm -rf "$SITE/stage/BN$round"; cp -r $B$round "$SITE/stage/BN$round"; cat "$SITE/stage/BN$round"/* >/dev/null
  mv "$SITE/stage/BN$round" "$SITE/data/BN$round"
  wait_for 300 batch_is "BN$round" DONE
  sql "SELECT 'sendit send stage round $round: ' || ((finished_at - started_at) / 1000.0) || ' s' FROM batch_stage WHERE batch_uid = 'BN$round' AND stage = 'send'"
  echo "files at storescp: $(ls $SENDIT_TMP/scp | wc -l)"
done
sendit stop_watcher >/dev/null 2>&1
kill $SCP
rm -rf "$SITE"
