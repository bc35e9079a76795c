#!/usr/bin/env bash
# The README's first command: install what is missing, build, and start sendit
# on the embedded defaults.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" -DSENDIT_TESTS=OFF
cd "$root"
# Embedded defaults: SQLite in ./sendit.db, input ./data, storage ./storage,
# logs on stderr. Ctrl-C stops it safely; `sendit start_watcher` detaches.
exec "$root/build/sendit" start_watcher --foreground "$@"
