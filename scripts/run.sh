#!/usr/bin/env bash
# The README's first command: install what is missing, build, and start sendit
# on the embedded defaults.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh" -DSENDIT_TESTS=OFF
cd "$root"
# The pipeline (watcher, queue, database) is the next milestone; until it lands
# the main job is the DICOM reader, shown by the program's help.
exec "$root/build/sendit" --help
