#!/usr/bin/python3
"""Timer for the sendit daemon contender of bench/run_import.sh.

Usage: /usr/bin/python3 bench/drop_import.py STAGE DATA DB BATCHES [POLL_MS [TIMEOUT_S]]

Starts the clock, renames every study folder of STAGE into DATA (the folder
the running watcher watches: "all folders dropped in at once"), then polls
  SELECT count(*) FROM batch WHERE status IN ('DONE','EMPTY','ERROR')
on DB every POLL_MS milliseconds (default 2) over one open connection until it
reaches BATCHES, and stops the clock. Everything slow (interpreter start-up,
listing STAGE, opening DB) happens before the clock starts.

Prints one line: "POLLED_US RECORDED_US MOVE_US"
  POLLED_US    clock start to the poll that saw all batches finished (the
               figure the benchmark uses; it overstates by up to POLL_MS plus
               one query)
  RECORDED_US  clock start to the latest batch.finished_at the daemon wrote
               (milliseconds since the epoch, so +-1 ms; information only)
  MOVE_US      how long the renames into DATA took
Exits 1 on timeout (default 300 s), 2 on bad usage.
"""

import os
import sqlite3
import sys
import time

QUERY = "SELECT count(*) FROM batch WHERE status IN ('DONE','EMPTY','ERROR')"


def main():
    if len(sys.argv) not in (5, 6, 7):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    stage, data, dbpath, want = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    poll = (float(sys.argv[5]) if len(sys.argv) > 5 else 2.0) / 1000.0
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 300.0
    names = sorted(n for n in os.listdir(stage) if not n.startswith("."))
    moves = [(os.path.join(stage, n), os.path.join(data, n)) for n in names]
    # The daemon made the database at start-up; a read connection in WAL mode
    # does not block its writers.
    db = sqlite3.connect(dbpath, timeout=30)
    db.execute(QUERY).fetchone()  # schema loaded, file opened: off the clock

    wall0 = time.time()
    t0 = time.monotonic()
    for src, dst in moves:
        os.rename(src, dst)
    t_moved = time.monotonic()
    done = 0
    while True:
        try:
            done = db.execute(QUERY).fetchone()[0]
        except sqlite3.OperationalError:  # a busy moment: just poll again
            done = -1
        if done >= want:
            break
        if time.monotonic() - t0 > timeout:
            print("drop_import: timeout: %d of %d batches finished after %.0f s"
                  % (max(done, 0), want, timeout), file=sys.stderr)
            return 1
        time.sleep(poll)
    t1 = time.monotonic()
    last = db.execute("SELECT max(finished_at) FROM batch").fetchone()[0]
    db.close()
    recorded_us = int(round((last / 1000.0 - wall0) * 1e6)) if last else -1
    print("%d %d %d" % (int(round((t1 - t0) * 1e6)), recorded_us,
                        int(round((t_moved - t0) * 1e6))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
