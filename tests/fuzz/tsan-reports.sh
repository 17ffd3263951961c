#!/usr/bin/env bash
# Prints every ThreadSanitizer report written under DIR (one file per
# process that found something) and fails if there is any.
set -euo pipefail
dir=${1:?usage: tsan-reports.sh DIR}
shopt -s nullglob
reports=("$dir"/tsan.*)
if [ ${#reports[@]} -eq 0 ]; then
    echo "tsan: no reports"
    exit 0
fi
for f in "${reports[@]}"; do
    echo "=== $f"
    cat "$f"
done
echo "tsan: ${#reports[@]} process(es) reported problems" >&2
exit 1
