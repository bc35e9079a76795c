#!/usr/bin/python3
"""pydicom contender for bench/run_parse.sh: one process over all files.

Usage: /usr/bin/python3 bench/pydicom_parse.py LIST
For each path in LIST (one a line): dcmread(path, stop_before_pixels=True) and
read SOPInstanceUID, so the header really is parsed (pydicom decodes values
lazily; the tag walk up to pixel data happens in dcmread). Prints the count;
exits 1 if any file failed.
"""

import sys

try:
    from pydicom import dcmread
except ImportError:
    sys.exit("pydicom_parse.py: pydicom not found; run it with /usr/bin/python3")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pydicom_parse.py LIST")
    with open(sys.argv[1]) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    ok = failed = 0
    uid_chars = 0
    for path in paths:
        try:
            ds = dcmread(path, stop_before_pixels=True)
            uid_chars += len(ds.SOPInstanceUID)
            ok += 1
        except Exception as e:  # report and go on, as the other contenders do
            print("pydicom_parse: %s: %s" % (path, e), file=sys.stderr)
            failed += 1
    print("%d files parsed, %d failed (%d UID chars)" % (ok, failed, uid_chars))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
