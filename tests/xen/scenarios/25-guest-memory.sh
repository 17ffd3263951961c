#!/bin/bash
# A real guest's memory through the worker, both Xen ways: a PV domU started
# here offers dom0 pages from its init (xen-guest-pages): 600 pages granted
# to dom0 through gntalloc, and 2048 pinned pages whose pseudo-physical
# frames it prints. xen-grant-frontend in dom0 plays the guest's driver on
# those pages and drives xenvhost-worker --domid <guest>:
#   grant path    the guest's own grants, mapped by the worker through gntdev
#   foreign path  the guest's machine frames (translated from its pfns with
#                 libxenguest), mapped by the worker through privcmd, per
#                 request and whole (--foreign-map), timed against each other
#   destroyed     the guest destroyed while requests run: the worker keeps
#                 running, exits 0 on SIGTERM holding no mapping, and the
#                 domain does not linger as a zombie
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

name="guest-pages"
pin_pages=2048
grant_pages=600
seconds=4
work=$(mktemp -d /tmp/guest-memory.XXXXXX)
log=/var/log/xen/console/guest-$name.log
worker_pid=

exited() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }

cleanup() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then kill -KILL "$worker_pid" || true; fi
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

for prog in xenvhost-worker xen-grant-frontend; do
    command -v "$prog" >/dev/null || die "$prog is not installed in dom0"
done

# The guest: the test domU's kernel and initramfs, asked to offer its pages.
sed -e "s/^name = .*/name = \"$name\"/" -e 's/^memory = .*/memory = 256/' \
    -e "s/^extra = \"\\(.*\\)\"/extra = \"\\1 xenvhost.pin=$pin_pages xenvhost.grant=$grant_pages\"/" \
    /root/domU.cfg >"$work/guest.cfg"
t0=$(uptime_s)
rm -f "$log"
xl create "$work/guest.cfg" >/dev/null
guest=$(xl domid "$name")
pages_line() { grep -a "^GUEST-PAGES $1 " "$log" 2>/dev/null | tail -n 1; }
both_lines() { [ -n "$(pages_line pin)" ] && [ -n "$(pages_line grant)" ]; }
if ! wait_until 240 both_lines; then
    sed 's/^/  guest: /' "$log" 2>/dev/null || true
    die "the guest did not offer its pages within 240 s"
fi
pfns=$(pages_line pin | tr -d '\r' | cut -d' ' -f4)
refs=$(pages_line grant | tr -d '\r' | cut -d' ' -f4)
echo "guest $name (domid $guest) up in $(since "$t0") s: $pin_pages pinned pages in $(tr ',' '\n' <<<"$pfns" | wc -l)" \
    "pfn range(s), $grant_pages grants in $(tr ',' '\n' <<<"$refs" | wc -l) ref range(s)"

truncate -s 16M "$work/disk.img"

# Starts a worker for the guest with extra worker options ARGS...
start_worker() {
    rm -f "$work/blk.sock" "$work/control"
    xenvhost-worker --domid "$guest" --socket-path "$work/blk.sock" --blk-file "$work/disk.img" \
        --control-socket "$work/control" "$@" >"$work/worker.log" 2>&1 &
    worker_pid=$!
    listening() {
        if [ -S "$work/blk.sock" ] && [ -S "$work/control" ]; then return 0; fi
        exited "$worker_pid"
    }
    wait_until 30 listening || die "the worker did not listen within 30 s"
    exited "$worker_pid" && { sed 's/^/  worker: /' "$work/worker.log"; die "the worker exited before listening"; }
    return 0
}

# SIGTERM; the worker must exit 0 and have unmapped everything it mapped.
stop_worker() {
    local rc=0 counters maps unmaps failures
    kill -TERM "$worker_pid"
    wait_until 30 exited "$worker_pid" || { kill -KILL "$worker_pid"; die "the worker ignored SIGTERM for 30 s"; }
    wait "$worker_pid" || rc=$?
    worker_pid=
    [ "$rc" -eq 0 ] || { sed 's/^/  worker: /' "$work/worker.log"; die "the worker exited with $rc"; }
    counters=$(grep -o 'map calls [0-9]*, unmap calls [0-9]*, pages mapped [0-9]*, map failures [0-9]*' \
        "$work/worker.log" | tail -n 1) || die "the worker printed no counters"
    read -r _ _ maps _ _ unmaps _ _ _ _ _ failures <<<"${counters//,/}"
    [ "$maps" -eq $((unmaps + failures)) ] || die "worker exit: $maps maps, $unmaps unmaps, $failures failures"
    echo "  worker exit: $counters"
}

# Value of KEY in the front-end log's SUMMARY line.
summary_value() {
    local word words
    read -r -a words <<<"$(grep '^SUMMARY ' "$2")"
    for word in "${words[@]}"; do
        case $word in "$1="*) echo "${word#*=}"; return 0 ;; esac
    done
    die "the front-end's SUMMARY has no $1"
}

# Runs the front-end on the guest's memory; LABEL, then front-end options.
frontend() {
    local label=$1 rc=0
    shift
    xen-grant-frontend --socket "$work/blk.sock" --image "$work/disk.img" --control "$work/control" \
        --guest-domid "$guest" --seconds "$seconds" "$@" >"$work/$label.log" 2>&1 || rc=$?
    grep -E '^(PASS|FAIL|guest memory|negotiated|worker after|4k|64k)' "$work/$label.log" | sed "s/^/  $label: /"
    [ "$rc" -eq 0 ] || { sed "s/^/  $label: /" "$work/$label.log" | tail -n 30; die "front-end ($label) failed"; }
}

echo "grant path: the guest's grants, mapped by the worker through gntdev"
start_worker
frontend grant --guest-grants "$refs"
stop_worker

echo "foreign path, per request: the guest's frames mapped around each request"
start_worker --foreign-map per-request
frontend foreign-per-request --guest-pfns "$pfns"
stop_worker

echo "foreign path, whole: each region mapped once when the table arrives"
start_worker --foreign-map whole
frontend foreign-whole --guest-pfns "$pfns"
stop_worker

for size in 4k 64k; do
    per=$(summary_value "rps_$size" "$work/foreign-per-request.log")
    whole=$(summary_value "rps_$size" "$work/foreign-whole.log")
    echo "FIGURES foreign path $size reads/s: per-request $per (map calls/request" \
        "$(summary_value "map_calls_per_request_$size" "$work/foreign-per-request.log")), whole $whole" \
        "(map calls/request $(summary_value "map_calls_per_request_$size" "$work/foreign-whole.log"))," \
        "whole/per-request x$(awk -v a="$whole" -v b="$per" 'BEGIN { printf "%.2f", a / b }')"
done
echo "FIGURES grant path from the guest, 4k reads/s $(summary_value rps_4k "$work/grant.log")," \
    "map calls/request $(summary_value map_calls_per_request_4k "$work/grant.log")"

echo "guest destroyed during I/O (grant path)"
start_worker
xen-grant-frontend --socket "$work/blk.sock" --image "$work/disk.img" --control "$work/control" \
    --guest-domid "$guest" --guest-grants "$refs" --seconds 6 >"$work/destroyed.log" 2>&1 &
fe_pid=$!
running() { grep -q '^PASS write-flush-read' "$work/destroyed.log"; }
wait_until 60 running || { sed 's/^/  destroyed: /' "$work/destroyed.log"; die "the front-end did not get going"; }
sleep 1
t0=$(uptime_s)
xl destroy "$name"
echo "  xl destroy took $(since "$t0") s while requests were running"
fe_rc=0
wait_until 120 exited "$fe_pid" || { kill -KILL "$fe_pid"; sed 's/^/  destroyed: /' "$work/destroyed.log"; die "the front-end hung after the guest went"; }
wait "$fe_pid" || fe_rc=$?
grep -E '^(FAIL|PASS|4k|64k)' "$work/destroyed.log" | cut -c1-200 | sed 's/^/  destroyed: /'
echo "  the front-end exited with $fe_rc"
kill -0 "$worker_pid" || die "the worker died with the guest"
grep -v ': info: ' "$work/worker.log" | head -n 3 | sed 's/^/  worker: /'
stop_worker
# Mappings held by dom0 keep a destroyed domain as a zombie; none may be left.
gone() { ! xl list | grep -q "^$name "; }
wait_until 30 gone || { xl list; die "the guest is still listed 30 s after the worker stopped"; }
echo "the worker survived the guest's destruction, released every mapping, and the domain is gone"
