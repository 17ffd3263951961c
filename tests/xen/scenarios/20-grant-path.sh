#!/bin/bash
# The grant data path under the real hypervisor: xenvhost-worker --domid 0
# serves a disk to xen-grant-frontend, whose guest memory is pages dom0
# grants to itself through gntalloc; the worker maps them through the real
# gntdev, the rings long-lived, each request's buffers with one batched map
# per direction. The front-end checks the data byte for byte (its buffers and
# the image), a buffer over five consecutive refs, revoked and never-granted
# refs (IOERR, then the next request succeeds), times reads, and compares the
# batched maps with one map per buffer access. Prints the figures.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

seconds=5
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

# Starts a worker for dom0's own grants; COMMAND... may run it (strace).
start_worker() {
    rm -f "$work/blk.sock" "$work/control"
    "$@" xenvhost-worker --domid 0 --socket-path "$work/blk.sock" --blk-file "$work/disk.img" \
        --control-socket "$work/control" >"$work/worker.log" 2>&1 &
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

# Value of KEY in the front-end's SUMMARY line.
summary_value() {
    local key=$1 word words
    read -r -a words <<<"$(grep '^SUMMARY ' "$work/frontend.log")"
    for word in "${words[@]}"; do
        case $word in "$key="*) echo "${word#*=}"; return 0 ;; esac
    done
    die "the front-end's SUMMARY has no $key"
}

truncate -s 16M "$work/disk.img"
start_worker
echo "worker pid $worker_pid serves $work/disk.img with XEN_MMAP for domid 0"

rc=0
xen-grant-frontend --socket "$work/blk.sock" --image "$work/disk.img" --control "$work/control" \
    --seconds "$seconds" >"$work/frontend.log" 2>&1 || rc=$?
sed 's/^/  frontend: /' "$work/frontend.log"
term_worker
warnings=$(grep -c ': warn: ' "$work/worker.log" || true)
grep -v ': warn: ' "$work/worker.log" | sed 's/^/  worker: /'
echo "  worker: ($warnings warning line(s) about the refused grants not shown)"
[ "$rc" -eq 0 ] || die "xen-grant-frontend failed (exit $rc)"
grep -q '^PASS bad-grants:' "$work/frontend.log" || die "the bad-grant check did not pass"

# The worker's exit log must agree with what its control socket reported,
# and every successful map must have been unmapped.
counters=$(grep -o 'device [^:]*: [0-9]* requests, mapping [a-z]*, map calls [0-9]*, unmap calls [0-9]*, pages mapped [0-9]*, map failures [0-9]*' \
    "$work/worker.log" | tail -n 1) || die "the worker printed no counters on exit"
read -r _ _ requests _ _ _ _ _ maps _ _ unmaps _ _ pages _ _ failures <<<"${counters//,/}"
[ "$maps" = "$(summary_value worker_map_calls)" ] || die "exit log map calls $maps differ from the control socket's"
[ "$maps" -eq $((unmaps + failures)) ] ||
    die "the worker exited with $maps map calls but $unmaps unmap calls and $failures failed maps"
echo "worker exit log: $requests requests, $maps map calls = $unmaps unmapped + $failures refused, $pages pages mapped"

# Syscalls per request, when the image has strace: a shorter run again
# with the worker traced.
if command -v strace >/dev/null; then
    start_worker strace -f -c -o "$work/strace.txt"
    if ! xen-grant-frontend --socket "$work/blk.sock" --image "$work/disk.img" --control "$work/control" \
        --seconds 2 --map-seconds 0.2 >"$work/frontend-traced.log" 2>&1; then
        sed 's/^/  frontend: /' "$work/frontend-traced.log"
        sed 's/^/  worker: /' "$work/worker.log"
        die "the run with the worker under strace failed"
    fi
    traced_requests=$(grep -o 'worker_requests=[0-9]*' "$work/frontend-traced.log" | cut -d= -f2)
    term_worker
    # strace -c's lines: % time, seconds, usecs/call, calls, [errors,] syscall.
    calls_of() { awk -v n="$1" '$NF == n { print $4 }' "$work/strace.txt"; }
    per_request() { awk -v a="${1:-0}" -v b="$traced_requests" 'BEGIN { printf "%.1f", a / b }'; }
    total=$(calls_of total)
    echo "worker under strace -f -c (4 KiB and 64 KiB reads, 2 s each): $total syscalls for $traced_requests" \
        "requests, $(per_request "$total") per request (bring-up included): ioctl $(per_request "$(calls_of ioctl)")," \
        "mmap $(per_request "$(calls_of mmap)"), munmap $(per_request "$(calls_of munmap)") per request"
    grep -v -e '^%' -e '^-' -e ' total$' "$work/strace.txt" | sort -k4 -n -r | head -n 10 | sed 's/^/  strace: /'
else
    echo "strace is not in the dom0 image: syscalls per request not counted"
fi

echo "FIGURES grant path: map calls per request $(summary_value map_calls_per_request_4k) (4 KiB)," \
    "$(summary_value map_calls_per_request_64k) (64 KiB in 16 descriptors); ring map calls $(summary_value ring_map_calls)"
echo "FIGURES requests/s 4 KiB: $(summary_value rps_4k) batched (measured)," \
    "$(summary_value rps_per_access_projected_4k) per-access (projected);" \
    "map cost $(summary_value map_us_batched_4k) us vs $(summary_value map_us_per_access_4k) us per request"
echo "FIGURES requests/s 64 KiB: $(summary_value rps_64k) batched (measured)," \
    "$(summary_value rps_per_access_projected_64k) per-access (projected);" \
    "map cost $(summary_value map_us_batched_64k) us vs $(summary_value map_us_per_access_64k) us per request"
