#!/usr/bin/env bash
# Runs each test level's make target in turn, times it, and prints a summary.
# A level that fails does not stop the others; the exit status says whether all passed.
set -u
passed=0 failed=0
summary=()
for level in "$@"; do
    start=$(date +%s.%N)
    echo "=== test level: $level"
    if make --no-print-directory "test-$level"; then
        status=PASS; passed=$((passed + 1))
    else
        status=FAIL; failed=$((failed + 1))
    fi
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    summary+=("$(printf '%-12s %s %6.1f s' "$level" "$status" "$secs")")
done
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
