#!/usr/bin/python3
"""Checks that Orthanc holds each file byte for byte, found by its SOPInstanceUID.

Usage: stow_check.py BASE_URL USER:PASSWORD FILE...

For every FILE: /tools/lookup of its SOPInstanceUID gives exactly one instance, whose
/instances/ID/file has the same sha256 as FILE. Prints one line per problem and, last,
"checked N, bad M"; exit status 1 when M > 0.
"""
import base64
import hashlib
import json
import sys
import urllib.request

import pydicom

base, auth, files = sys.argv[1], sys.argv[2], sys.argv[3:]
header = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def call(path, data=None):
    req = urllib.request.Request(base + path, data=data, headers=header)
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.read()


bad = 0
for f in files:
    uid = str(pydicom.dcmread(f, stop_before_pixels=True, force=True).SOPInstanceUID)
    found = [x["ID"] for x in json.loads(call("/tools/lookup", uid.encode())) if x["Type"] == "Instance"]
    if len(found) != 1:
        print("%s: %d instances in Orthanc for %s" % (f, len(found), uid))
        bad += 1
        continue
    got = hashlib.sha256(call("/instances/%s/file" % found[0])).hexdigest()
    want = hashlib.sha256(open(f, "rb").read()).hexdigest()
    if got != want:
        print("%s: Orthanc's file has sha256 %s, the original %s" % (f, got, want))
        bad += 1
print("checked %d, bad %d" % (len(files), bad))
sys.exit(1 if bad else 0)
