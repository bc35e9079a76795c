#!/usr/bin/env bash
# Files named like sendit's temporary copies (.sendit-partial-<16 hex>) are a
# sender's to name: the sweep of interrupted copies must never take one for
# litter (review of issue 11, item 6). The storage folder is configured with
# a trailing slash, as in the report: rows and the sweep must spell it alike.
source "$(dirname "$0")/lib.sh"
new_site
[ -d "${SITE:-}" ] || exit 1
sed -i "s|^folder = $SITE/storage\$|folder = $SITE/storage/|" "$SITE/sendit.ini"
grep -q "^folder = $SITE/storage/\$" "$SITE/sendit.ini" || { not_ok "trailing slash configured"; finish; exit 1; }
trap 'stop_site' EXIT
S=1.2.826.0.1.3680043.10.5201
STAGE="$SITE/stage"
$MKDICOM "$STAGE/STUDY" 1 --sop-prefix $S.1
$MKDICOM "$STAGE/u" 1 --sop-prefix $S.2
mv "$STAGE/u/IMG00001.dcm" "$STAGE/STUDY/.sendit-partial-0123456789abcdef"
echo "a user's notes" >"$STAGE/STUDY/.sendit-partial-fedcba9876543210"
dicom_sum="$(sha256sum <"$STAGE/STUDY/.sendit-partial-0123456789abcdef")"
text_sum="$(sha256sum <"$STAGE/STUDY/.sendit-partial-fedcba9876543210")"
mv "$STAGE/STUDY" "$SITE/data/"
sendit start_watcher >/dev/null || { not_ok "start_watcher"; finish; exit 1; }
check "STUDY is imported" wait_for 30 batch_is STUDY DONE
check_eq "the configured storage folder is cleaned: no '//' in stored paths" 0 \
  "$(sql "SELECT count(*) FROM image WHERE storage_path LIKE '%//%'")"
# Late data: the batch's next import sweeps its folders.
$MKDICOM "$STAGE/late/STUDY" 1 --sop-prefix $S.3 --prefix LATE
mv "$STAGE/late/STUDY" "$SITE/data/"
check "late data for STUDY is imported" \
  wait_for 30 sql_is 1 "SELECT count(*) FROM image WHERE uid LIKE '$S.3.%' AND status = 'DONE'"
sendit stop_watcher >/dev/null
copies() { find "$SITE/storage" "$SITE/quarantine" -type f -exec sha256sum {} + | grep -c "^${1%% *} "; }
check_eq "the DICOM file named like a temporary copy is kept, once" 1 "$(copies "$dicom_sum")"
check_eq "the user's text file named like a temporary copy is kept, once" 1 "$(copies "$text_sum")"
check "both are quarantined under an escaped name" \
  test -f "$SITE/quarantine/STUDY/_.sendit-partial-0123456789abcdef" -a \
  -f "$SITE/quarantine/STUDY/_.sendit-partial-fedcba9876543210"
check_eq "with the reason" 2 \
  "$(sql "SELECT count(*) FROM quarantine WHERE reason LIKE 'skipped: name reserved for sendit''s temporary copies%'")"
check_eq "no file in storage or quarantine bears the reserved name" 0 \
  "$(find "$SITE/storage" "$SITE/quarantine" -name '.sendit-partial-*' | wc -l)"
missing=0
while IFS= read -r p; do [ -f "$p" ] || missing=$((missing + 1)); done < <(sql "SELECT storage_path FROM image")
check_eq "every image row names a file that is there" 0 "$missing"
check_eq "two images stored" 2 "$(sql "SELECT count(*) FROM image WHERE status = 'DONE'")"
finish
