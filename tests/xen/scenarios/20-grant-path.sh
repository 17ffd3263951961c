#!/bin/bash
# The grant data path under the real hypervisor: xenvhost-worker --domid 0
# serves a disk to xen-grant-frontend, whose guest memory is pages dom0
# grants to itself through gntalloc; the worker reaches them through the real
# gntdev, the rings mapped long-lived. Once per --grant-access mode
# (per-access: a map per buffer, as rust-vmm vm-memory does; map: one batched
# map per direction; copy: one grant copy call per direction through bounce
# buffers) the front-end checks the data byte for byte (its buffers and the
# image), a buffer over five consecutive refs, revoked and never-granted refs
# (IOERR, then the next request succeeds), then times 4, 16 and 64 KiB reads;
# with strace in the image each size is read again with the worker traced,
# for its syscalls per request. Prints one table of the figures.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

seconds=1        # per timed loop; each cell is read twice (two rounds) and the better kept

trace_seconds=0.5
modes="per-access map copy"
sizes="4 16 64"
run_order="64,16,4"  # largest first, so no size always follows the checks
work=$(mktemp -d /tmp/grant-path.XXXXXX)
worker_pid=  # the process started here: the worker, or strace running it
target_pid=  # the worker itself

# Whether process PID (a child of this shell) has exited: a zombie until reaped.
exited() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }

stop_worker() {
    local pid
    for pid in "$target_pid" "$worker_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" || true; fi
    done
    worker_pid=
    target_pid=
}
cleanup() {
    stop_worker
    rm -rf "$work"
}
trap cleanup EXIT

for prog in xenvhost-worker xen-grant-frontend; do
    command -v "$prog" >/dev/null || die "$prog is not installed in dom0"
done

# Starts a worker for dom0's own grants with --grant-access MODE; COMMAND...
# may run it (strace).
start_worker() {
    local mode=$1
    shift
    rm -f "$work/blk.sock" "$work/control"
    "$@" xenvhost-worker --domid 0 --socket-path "$work/blk.sock" --blk-file "$work/disk.img" \
        --control-socket "$work/control" --grant-access "$mode" >"$work/worker.log" 2>&1 &
    worker_pid=$!
    target_pid=$worker_pid
    listening() {
        if [ -S "$work/blk.sock" ] && [ -S "$work/control" ]; then return 0; fi
        exited "$worker_pid"
    }
    wait_until 30 listening || die "the worker did not listen within 30 s"
    if exited "$worker_pid"; then
        sed 's/^/  worker: /' "$work/worker.log"
        die "the worker exited before listening"
    fi
    if [ $# -gt 0 ]; then
        # strace -o FILE PROG blocks fatal signals: the worker is its child.
        target_pid=$(cat "/proc/$worker_pid/task/$worker_pid/children")
        target_pid=${target_pid%% *}
        [ -n "$target_pid" ] || die "no worker process under $1"
    fi
}

# SIGTERM to the worker; it must exit 0 (within 30 s) and print its counters.
term_worker() {
    local rc=0
    kill -TERM "$target_pid"
    # No background timer: it would hold the scenario's output pipe open.
    if ! wait_until 30 exited "$worker_pid"; then
        kill -KILL "$target_pid" "$worker_pid" 2>/dev/null || true
        echo "the worker did not exit within 30 s of SIGTERM"
    fi
    wait "$worker_pid" || rc=$?
    worker_pid=
    target_pid=
    [ "$rc" -eq 0 ] || { sed 's/^/  worker: /' "$work/worker.log"; die "the worker exited with $rc on SIGTERM"; }
}

# Value of KEY in the SUMMARY line of front-end log LOG.
summary_value() {
    local key=$1 log=$2 word words
    read -r -a words <<<"$(grep '^SUMMARY ' "$log")"
    for word in "${words[@]}"; do
        case $word in "$key="*) echo "${word#*=}"; return 0 ;; esac
    done
    die "the SUMMARY of $log has no $key"
}

# The front-end's --trace-hook: `start NAME` attaches strace -c to every
# thread of the worker and returns once all are traced; `stop NAME` detaches
# it (SIGINT), which writes the counts to $work/strace-$MODE-NAME.txt.
cat >"$work/trace-hook" <<'HOOK'
#!/bin/bash
set -eu
work=$(dirname "$0")
pid=$(cat "$work/worker.pid")
case $1 in
start)
    strace -f -c -p "$pid" -o "$work/strace-$(cat "$work/mode")-$2.txt" >"$work/strace.out" 2>&1 &
    echo $! >"$work/strace.pid"
    for _ in $(seq 200); do
        untraced=$(grep -l '^TracerPid:[[:space:]]*0$' /proc/"$pid"/task/*/status || true)
        [ -z "$untraced" ] && exit 0
        sleep 0.05
    done
    echo "strace did not attach to every thread of $pid" >&2
    exit 1 ;;
stop)
    tracer=$(cat "$work/strace.pid")
    kill -INT "$tracer"
    for _ in $(seq 200); do
        kill -0 "$tracer" 2>/dev/null || exit 0
        sleep 0.05
    done
    echo "strace $tracer did not detach" >&2
    exit 1 ;;
esac
HOOK
chmod +x "$work/trace-hook"

truncate -s 16M "$work/disk.img"
hook=()
if command -v strace >/dev/null; then
    hook=(--trace-hook "$work/trace-hook" --trace-seconds "$trace_seconds")
else
    echo "strace is not in the dom0 image: syscalls per request not counted"
fi

# One worker per mode, the same checks and loops against each; a second
# round in the reverse order of modes, so a change of load on the host that
# runs QEMU does not favour the modes run first (the better of the two
# rounds is kept). Only the first round is traced.
round_modes=()
for mode in $modes; do round_modes+=("$mode 1"); done
for mode in $(echo "$modes" | tr ' ' '\n' | tac); do round_modes+=("$mode 2"); done
for entry in "${round_modes[@]}"; do
    read -r mode round <<<"$entry"
    echo "$mode" >"$work/mode"
    start_worker "$mode"
    echo "$target_pid" >"$work/worker.pid"
    echo "worker pid $worker_pid serves $work/disk.img with XEN_MMAP for domid 0, --grant-access $mode"
    log="$work/frontend-$mode.log"
    trace_args=("${hook[@]}")
    if [ "$round" = 2 ]; then
        log="$work/frontend-$mode-2.log"
        trace_args=()
    fi
    rc=0
    xen-grant-frontend --socket "$work/blk.sock" --image "$work/disk.img" --control "$work/control" \
        --seconds "$seconds" --loops "$run_order" "${trace_args[@]}" >"$log" 2>&1 || rc=$?
    if [ "$round" = 1 ] || [ "$rc" -ne 0 ]; then
        sed "s/^/  frontend ($mode): /" "$log"
    else
        grep -E '^(PASS|FAIL|[0-9]+k reads of)' "$log" | sed "s/^/  frontend ($mode, round 2): /"
    fi
    term_worker
    warnings=$(grep -c ': warn: ' "$work/worker.log" || true)
    if [ "$round" = 1 ]; then
        grep -v ': warn: ' "$work/worker.log" | sed "s/^/  worker ($mode): /"
        echo "  worker ($mode): ($warnings warning line(s) about the refused grants not shown)"
    fi
    [ "$rc" -eq 0 ] || die "xen-grant-frontend failed against --grant-access $mode (exit $rc)"
    grep -q '^PASS bad-grants:' "$log" || die "the bad-grant check did not pass with --grant-access $mode"
    [ "$(summary_value grant_access "$log")" = "$mode" ] || die "the worker did not report --grant-access $mode"

    # The worker's exit log must agree with what its control socket reported,
    # and every successful map must have been unmapped.
    counters=$(grep -o 'device [^:]*: [0-9]* requests, mapping [a-z]*, map calls [0-9]*, unmap calls [0-9]*, pages mapped [0-9]*, map failures [0-9]*, grant access [a-z-]*, copy calls [0-9]*, copy segments [0-9]*, copy failures [0-9]*' \
        "$work/worker.log" | tail -n 1) || die "the worker printed no counters on exit"
    read -r _ _ requests _ _ _ _ _ maps _ _ unmaps _ _ pages _ _ failures _ _ access _ _ copies _ _ segments _ _ copy_failures \
        <<<"${counters//,/}"
    [ "$maps" = "$(summary_value worker_map_calls "$log")" ] || die "exit log map calls $maps differ from the control socket's"
    [ "$maps" -eq $((unmaps + failures)) ] ||
        die "the worker exited with $maps map calls but $unmaps unmap calls and $failures failed maps"
    [ "$access" = "$mode" ] || die "the exit log reports grant access $access, not $mode"
    echo "worker exit log ($mode): $requests requests, $maps map calls = $unmaps unmapped + $failures refused," \
        "$pages pages mapped; $copies copy calls ($segments segments, $copy_failures failed)"
done

# strace -c's lines: % time, seconds, usecs/call, calls, [errors,] syscall.
calls_of() { awk -v n="$2" '$NF == n { c = $4 } END { print c + 0 }' "$1"; }
ratio() { awk -v a="${1:-0}" -v b="${2:-0}" -v f="${3:-%.1f}" 'BEGIN { if (b > 0) printf f, a / b; else printf "-" }'; }
syscalls_per_request() {  # MODE SIZE
    local log="$work/frontend-$1.log" txt="$work/strace-$1-$2k.txt"
    [ -s "$txt" ] || { echo "-"; return; }
    ratio "$(calls_of "$txt" total)" "$(summary_value "traced_requests_$2k" "$log")"
}

# The better requests/s of a mode's two rounds for SIZE, then the other in parentheses.
best_rps() {
    local a b
    a=$(summary_value "rps_$2k" "$work/frontend-$1.log")
    b=$(summary_value "rps_$2k" "$work/frontend-$1-2.log")
    awk -v a="$a" -v b="$b" 'BEGIN { if (a >= b) print a, b; else print b, a }'
}

echo "FIGURES grant access, reads of 4/16/64 KiB (4 KiB descriptors above 4 KiB), 1 in flight, the better of two" \
    "$seconds s runs per cell (the other in parentheses; after 0.5 s of untimed reads, in the order $run_order KiB);" \
    "syscalls per request from the worker under strace -f -c for $trace_seconds s more per cell"
printf 'FIGURES %-10s %5s %20s %8s %10s %10s %8s %12s %12s\n' mode size requests/s vs_map syscalls/req \
    ioctl/req 'mmap+munmap' 'map calls' 'copy calls'
for size in $sizes; do
    read -r map_rps _ <<<"$(best_rps map "$size")"
    for mode in $modes; do
        log="$work/frontend-$mode.log"
        txt="$work/strace-$mode-${size}k.txt"
        traced=0
        [ -s "$txt" ] && traced=$(summary_value "traced_requests_${size}k" "$log")
        read -r rps other <<<"$(best_rps "$mode" "$size")"
        mm="-" ioctls="-"
        if [ -s "$txt" ]; then
            mm=$(ratio "$(($(calls_of "$txt" mmap) + $(calls_of "$txt" munmap)))" "$traced")
            ioctls=$(ratio "$(calls_of "$txt" ioctl)" "$traced")
        fi
        printf 'FIGURES %-10s %3sK %20s %8s %10s %10s %8s %12s %12s\n' "$mode" "$size" "$rps ($other)" \
            "$(ratio "$rps" "$map_rps" x%.2f)" "$(syscalls_per_request "$mode" "$size")" "$ioctls" "$mm" \
            "$(summary_value "map_calls_per_request_${size}k" "$log")" \
            "$(summary_value "copy_calls_per_request_${size}k" "$log")"
    done
done
for mode in $modes; do
    for size in $sizes; do
        txt="$work/strace-$mode-${size}k.txt"
        [ -s "$txt" ] || continue
        echo "  strace ($mode, $size KiB, $(summary_value "traced_requests_${size}k" "$work/frontend-$mode.log") requests):"
        grep -v -e '^%' -e '^-' -e ' total$' "$txt" | sort -k4 -n -r | head -n 6 | sed 's/^/    /'
    done
done
