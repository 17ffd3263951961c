#!/usr/bin/env bash
# Runs libFuzzer targets and prints one summary line per target.
#
#   run-fuzz.sh run    FUZZ_DIR SECONDS TARGET...   fuzz each target SECONDS, starting
#                      from the committed corpus plus what earlier runs found
#   run-fuzz.sh replay FUZZ_DIR 0 TARGET...         execute the committed corpus once
#
# The committed corpus (tests/fuzz/corpus/<target>) is only read; new inputs
# go to FUZZ_DIR/corpus/<target>, crashes to FUZZ_DIR/artifacts/<target>/.
# Exit status: non-zero if any target crashed or failed to start.
set -euo pipefail

mode=${1:?usage: run-fuzz.sh run|replay FUZZ_DIR SECONDS TARGET...}
fuzz_dir=${2:?}
seconds=${3:?}
shift 3
here=$(cd "$(dirname "$0")" && pwd)

failed=0
summary=()
for t in "$@"; do
    bin=$fuzz_dir/bin/$t
    seeds=$here/corpus/$t
    work=$fuzz_dir/corpus/$t
    artifacts=$fuzz_dir/artifacts/$t
    log=$fuzz_dir/logs/$t.$mode.log
    mkdir -p "$work" "$artifacts" "$(dirname "$log")"
    [ -d "$seeds" ] || { echo "$t: no corpus directory $seeds" >&2; failed=1; continue; }
    nseeds=$(find "$seeds" -type f | wc -l)
    if [ "$mode" = replay ]; then
        echo "=== $t: replaying $nseeds inputs"
        args=(-runs=0 "$seeds")
    else
        echo "=== $t: fuzzing for ${seconds}s from $nseeds seeds"
        args=(-max_total_time="$seconds" -print_final_stats=1 "$work" "$seeds")
    fi
    stamp=$fuzz_dir/logs/$t.$mode.stamp
    touch "$stamp"
    status=0
    start=$(date +%s.%N)
    "$bin" -artifact_prefix="$artifacts/" -timeout=25 -rss_limit_mb=2560 -print_pcs=0 "${args[@]}" \
        >"$log" 2>&1 || status=$?
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    # The last status line ("#N DONE cov: C ft: F corp: ...") has the totals.
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    execs=$(echo "$last" | sed -nE 's/^#([0-9]+).*/\1/p')
    cov=$(echo "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
    ft=$(echo "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
    corp=$(echo "$last" | sed -nE 's/.* corp: ([0-9]+).*/\1/p')
    rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    crashes=$(find "$artifacts" -type f -newer "$stamp" | wc -l)
    result=ok
    if [ "$status" -ne 0 ]; then
        result="FAILED (exit $status)"
        failed=1
        echo "--- $t: end of $log"
        grep -vE '^#[0-9]+' "$log" | tail -n 60
        # libFuzzer names the unit by its SHA-1; name the corpus file it came from.
        sha=$(sed -nE 's/.*Test unit written to .*-([0-9a-f]{40})$/\1/p' "$log" | tail -n 1)
        if [ -n "$sha" ]; then
            while IFS= read -r f; do
                if [ "$(sha1sum <"$f" | cut -d' ' -f1)" = "$sha" ]; then result="$result: $f"; fi
            done < <(find "$seeds" "$work" -type f)
        fi
    fi
    line=$(printf '%-20s %-8s %10s execs %8s exec/s  cov %6s  ft %7s  corpus %6s  %6.1f s  %s' \
        "$t" "$mode" "${execs:-?}" "${rate:--}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs" "$result")
    if [ "$crashes" -gt 0 ]; then line="$line  artifacts: $artifacts"; fi
    summary+=("$line")
done
echo "=== fuzz summary ($mode)"
printf '%s\n' "${summary[@]}"
exit "$failed"
