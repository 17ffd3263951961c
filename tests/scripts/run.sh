#!/bin/bash
# The scripts level: runs each group (t-<group>.sh) in turn and prints a
# summary. SCRIPTS_CASES=a:b runs only those groups.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
groups=(lint xl install man hvm deb)
if [ -n "${SCRIPTS_CASES:-}" ]; then
    IFS=: read -r -a groups <<<"$SCRIPTS_CASES"
fi
failed=()
for g in "${groups[@]}"; do
    [ -f "$here/t-$g.sh" ] || { echo "scripts: no group '$g' (t-$g.sh)" >&2; exit 2; }
    echo "--- $g"
    start=$SECONDS
    if bash "$here/t-$g.sh"; then
        echo "--- $g: PASS ($((SECONDS - start)) s)"
    else
        echo "--- $g: FAIL ($((SECONDS - start)) s)"
        failed+=("$g")
    fi
done
if [ "${#failed[@]}" != 0 ]; then
    echo "scripts: failed: ${failed[*]}"
    exit 1
fi
echo "scripts: all ${#groups[@]} groups passed"
