#!/usr/bin/env bash
# A batch's qa keeps every StudyDate of its histogram: it was built in a
# fixed 4 KiB buffer, and a batch of some 300 distinct dates or more was
# cut into invalid JSON (issue 13).
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT

PY=/usr/bin/python3 # the interpreter with pydicom
new_site
mkdir -p "$SITE/stage"
# 400 images, each of its own StudyDate (one day apart from 2001-01-01).
$MKDICOM "$SITE/stage/DATES" 400 --sop-prefix 1.2.826.0.1.3680043.10.4480 >/dev/null
$PY - "$SITE/stage/DATES" <<'PYEOF'
import datetime, os, sys
import pydicom
folder = sys.argv[1]
for i, name in enumerate(sorted(os.listdir(folder))):
    path = os.path.join(folder, name)
    ds = pydicom.dcmread(path)
    ds.StudyDate = (datetime.date(2001, 1, 1) + datetime.timedelta(days=i)).strftime("%Y%m%d")
    ds.save_as(path)
PYEOF
sendit import_dicomdir "$SITE/stage/DATES" >/dev/null 2>&1
check_eq "the batch is DONE with 400 images" "DONE 400" \
  "$(batch_status DATES) $(sql "SELECT image_count FROM batch WHERE uid = 'DATES'")"
qa=$(sql "SELECT qa FROM batch WHERE uid = 'DATES'")
check "qa is valid JSON (${#qa} bytes)" $PY -c 'import json, sys; json.loads(sys.argv[1])' "$qa"
dates=$($PY -c 'import json, sys; d = json.loads(sys.argv[1])["study_dates"]; print(len(d), sum(d.values()), d.get("20010101"), d.get("20020204"))' "$qa" 2>/dev/null)
check_eq "qa's histogram has all 400 dates, one image each" "400 400 1 1" "$dates"
check "qa keeps its counters after the histogram" grep -q '"files_seen": *400' <<<"$($PY -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$qa" 2>/dev/null)"
# Read back whole, though the record's qa field holds 4 KiB: the CLI's JSON,
# its text view and the API show every date.
shown=$(sendit batch show DATES --json | $PY -c 'import json, sys; print(len(json.load(sys.stdin)["batch"]["qa"]["study_dates"]))' 2>&1)
check_eq "batch show --json has all 400 dates" 400 "$shown"
listed=$(sendit batches --json | $PY -c 'import json, sys; print(len([b for b in json.load(sys.stdin) if b["uid"] == "DATES"][0]["qa"]["study_dates"]))' 2>&1)
check_eq "batches --json has all 400 dates" 400 "$listed"
check "batch show's text lists the last date" grep -q '2002-02-04' <<<"$(sendit batch show DATES)"
finish
