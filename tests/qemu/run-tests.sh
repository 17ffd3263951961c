#!/usr/bin/env bash
# The QEMU test level: every guest case, each a real QEMU run against the
# back-end under test (BACKEND=worker, the default, or BACKEND=qsd).
#
#   run-tests.sh [CASE...]     cases: rw-1q rw-2q ro-1q reconnect kill-restart resize
#                              iommu, iommu-strict (default: all the back-end supports;
#                              kill-restart, resize and iommu need the worker)
#
# Exits non-zero if any case fails. See lib.sh for the environment it reads.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
. "$here/lib.sh"

selected=("$@")
[ ${#selected[@]} -gt 0 ] || mapfile -t selected < <(xvt_default_cases)
for name in "${selected[@]}"; do
    xvt_known_case "$name"
done

xvt_init
start=$(xvt_us)
summary=()
failed=0
for name in "${selected[@]}"; do
    if xvt_named_case "$name"; then
        summary+=("$(printf '  %-12s PASS %6s s' "$name" "$XVT_LAST_SECS")")
    else
        summary+=("$(printf '  %-12s FAIL %6s s' "$name" "$XVT_LAST_SECS")")
        failed=$((failed + 1))
    fi
done

echo "=== QEMU guest cases against $BACKEND:"
printf '%s\n' "${summary[@]}"
echo "  $((${#selected[@]} - failed)) passed, $failed failed, $(xvt_secs $(($(xvt_us) - start))) s"
[ "$failed" -eq 0 ]
