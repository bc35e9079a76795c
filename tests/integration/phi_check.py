#!/usr/bin/python3
"""Checks `sendit deid verify --json` results against mkphi.py's manifest.

Usage:
  phi_check.py recall MANIFEST HITS.json ROOT [--kinds KIND,...]
      every seed of the manifest (whose kind is listed, default: all) must be
      a leak of the file ROOT/<seed file> at the seed's tag path with the
      seed's value (case-insensitive); prints the missing ones, exit 1 if any.
  phi_check.py paths HITS.json [--has PATH]... [--lacks PATH]... [--kind-at KIND@PATH]...
      --has: some leak is at PATH (in any file); --lacks: no leak is at PATH;
      --kind-at: some leak of KIND is at PATH. Exit 1 when one fails.
"""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def recall(argv):
    manifest, hits, root = load(argv[0]), load(argv[1]), argv[2].rstrip("/") + "/"
    kinds = None
    if len(argv) > 4 and argv[3] == "--kinds":
        kinds = set(argv[4].split(","))
    found = set()
    for leak in hits["leaks"]:
        if leak["file"].startswith(root):
            found.add((leak["file"][len(root):], leak["path"], leak["value"].casefold()))
    seeds = [s for s in manifest["seeds"] if kinds is None or s["kind"] in kinds]
    missing = [s for s in seeds if (s["file"], s["path"], s["value"].casefold()) not in found]
    for s in missing:
        print(f"missing: {s['file']} {s['path']} {s['kind']} {s['value']!r}")
    print(f"{len(seeds) - len(missing)} of {len(seeds)} seeded values found")
    return 1 if missing or not seeds else 0


def paths(argv):
    hits = load(argv[0])
    at = {leak["path"] for leak in hits["leaks"]}
    kinds_at = {(leak["kind"], leak["path"]) for leak in hits["leaks"]}
    rc = 0
    i = 1
    while i < len(argv):
        opt, value = argv[i], argv[i + 1]
        i += 2
        if opt == "--has" and value not in at:
            print(f"no leak at {value}")
            rc = 1
        elif opt == "--lacks" and value in at:
            print(f"a leak at {value}")
            rc = 1
        elif opt == "--kind-at":
            kind, path = value.split("@", 1)
            if (kind, path) not in kinds_at:
                print(f"no {kind} leak at {path}")
                rc = 1
    return rc


if __name__ == "__main__":
    command = sys.argv[1]
    sys.exit(recall(sys.argv[2:]) if command == "recall" else paths(sys.argv[2:]))
