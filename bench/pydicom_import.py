#!/usr/bin/python3
"""pydicom contender for bench/run_import.sh: a folder import done the way the
original (Python, Django on SQLite) sendit did it, file by file.

Usage: /usr/bin/python3 bench/pydicom_import.py SRC SITE
  SRC   a folder of study folders (SRC/<ACCESSION>/IMGnnnn.dcm)
  SITE  a fresh folder: SITE/sendit.db and SITE/storage/<batch>/ are made here

For each study folder of SRC (one batch each):
  - insert a batch row (status PROCESSING);
  - for each file, in name order:
      dcmread(path)               the whole file, pixel data included, as the
                                  original did (no stop_before_pixels);
      INSERT one image row        autocommit: one transaction per row, as
                                  Django's default autocommit mode does;
      shutil.copy to storage/<batch>/<name>, then os.remove the original;
  - mark the batch DONE (one more autocommitted UPDATE) and remove the folder.

SQLite is used through the standard sqlite3 module with its defaults as Django
leaves them (rollback journal, synchronous=FULL) and foreign keys on (Django
turns them on). Prints "N batches, M images, B bytes, T s"; exits 1 if any
file failed.
"""

import os
import shutil
import sqlite3
import sys
import time

try:
    from pydicom import dcmread
except ImportError:
    sys.exit("pydicom_import.py: pydicom not found; run it with /usr/bin/python3")

# Tables shaped like a Django app's (id primary key, foreign key with an
# index, timestamps), holding what the original kept per batch and image.
SCHEMA = """
CREATE TABLE IF NOT EXISTS main_batch (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid VARCHAR(200) NOT NULL UNIQUE,
    status VARCHAR(250) NOT NULL,
    has_error BOOL NOT NULL,
    add_date DATETIME NOT NULL,
    modify_date DATETIME NOT NULL);
CREATE TABLE IF NOT EXISTS main_image (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid VARCHAR(250) NOT NULL UNIQUE,
    image VARCHAR(255),
    status VARCHAR(250) NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES main_batch(id),
    add_date DATETIME NOT NULL,
    modify_date DATETIME NOT NULL);
CREATE INDEX IF NOT EXISTS main_image_batch_id ON main_image(batch_id);
"""


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pydicom_import.py SRC SITE")
    src, site = sys.argv[1], sys.argv[2]
    storage = os.path.join(site, "storage")
    os.makedirs(storage, exist_ok=True)
    # isolation_level=None: autocommit, every statement its own transaction.
    db = sqlite3.connect(os.path.join(site, "sendit.db"), isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)

    t0 = time.monotonic()
    batches = images = nbytes = failed = 0
    for name in sorted(os.listdir(src)):
        folder = os.path.join(src, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        cur = db.execute(
            "INSERT INTO main_batch (uid, status, has_error, add_date, modify_date) "
            "VALUES (?, 'PROCESSING', 0, ?, ?)", (name, now(), now()))
        batch_id = cur.lastrowid
        batch_dir = os.path.join(storage, name)
        os.makedirs(batch_dir, exist_ok=True)
        has_error = 0
        for fname in sorted(os.listdir(folder)):
            path = os.path.join(folder, fname)
            try:
                ds = dcmread(path)
                dst = os.path.join(batch_dir, fname)
                db.execute(
                    "INSERT INTO main_image (uid, image, status, batch_id, add_date, modify_date) "
                    "VALUES (?, ?, 'NEW', ?, ?, ?)",
                    (str(ds.SOPInstanceUID), dst, batch_id, now(), now()))
                nbytes += os.path.getsize(path)
                shutil.copy(path, dst)
                os.remove(path)
                images += 1
            except Exception as e:  # report and go on, as an importer does
                print("pydicom_import: %s: %s" % (path, e), file=sys.stderr)
                failed += 1
                has_error = 1
        db.execute("UPDATE main_batch SET status = 'DONE', has_error = ?, modify_date = ? "
                   "WHERE id = ?", (has_error, now(), batch_id))
        try:
            os.rmdir(folder)
        except OSError:
            pass
        batches += 1
    elapsed = time.monotonic() - t0
    db.close()
    print("%d batches, %d images, %d bytes, %.3f s" % (batches, images, nbytes, elapsed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
