#!/usr/bin/python3
"""pydicom contender for bench/run_write.sh: one process over all files.

Usage: /usr/bin/python3 bench/pydicom_write.py LIST SRC_ROOT OUT_ROOT
For each path in LIST (one a line, under SRC_ROOT): dcmread (the whole file, pixel data included),
set PatientName to X, save_as to the same relative path under OUT_ROOT (folders made as needed).
That is what a pydicom script that edits a header does. Prints the count; exits 1 if any file failed.
"""

import os
import sys

try:
    from pydicom import dcmread
except ImportError:
    sys.exit("pydicom_write.py: pydicom not found; run it with /usr/bin/python3")


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: pydicom_write.py LIST SRC_ROOT OUT_ROOT")
    src_root, out_root = sys.argv[2], sys.argv[3]
    with open(sys.argv[1]) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    ok = failed = 0
    made = set()
    for path in paths:
        try:
            ds = dcmread(path)
            ds.PatientName = "X"
            out = os.path.join(out_root, os.path.relpath(path, src_root))
            folder = os.path.dirname(out)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            ds.save_as(out)
            ok += 1
        except Exception as exc:  # report and go on, like the other contenders
            print(f"{path}: {exc}", file=sys.stderr)
            failed += 1
    print(f"{ok} files written, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
