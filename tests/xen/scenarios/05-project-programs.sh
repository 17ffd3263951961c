#!/bin/bash
# This project's programs as installed in dom0: they load (every library was
# resolved into the image), and the worker serves a Xen guest's disk socket
# under the real hypervisor and stops cleanly on SIGTERM.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
: "${DOMU_ID:?DOMU_ID must name the running guest}"

work=$(mktemp -d /tmp/programs.XXXXXX)
worker_pid=
cleanup() {
    if [ -n "$worker_pid" ] && kill -0 "$worker_pid" 2>/dev/null; then kill -KILL "$worker_pid" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

for prog in xenvhost-worker xenvhostd; do
    command -v "$prog" >/dev/null || die "$prog is not installed in dom0"
    "$prog" --help >"$work/help" 2>&1 || { cat "$work/help"; die "$prog --help failed"; }
    [ -s "$work/help" ] || die "$prog --help printed nothing"
    echo "$prog --help: ok ($(head -n 1 "$work/help"))"
done
echo "worker capabilities: $(xenvhost-worker --print-capabilities)"

truncate -s 16M "$work/disk.img"
t0=$(uptime_s)
xenvhost-worker --socket-path "$work/blk.sock" --blk-file "$work/disk.img" --domid "$DOMU_ID" \
    >"$work/worker.log" 2>&1 &
worker_pid=$!
is_socket() { [ -S "$work/blk.sock" ] || ! kill -0 "$worker_pid"; }
wait_until 30 is_socket || die "the worker did not listen within 30 s"
if [ ! -S "$work/blk.sock" ]; then
    sed 's/^/  worker: /' "$work/worker.log"
    die "the worker exited before listening"
fi
echo "worker for dom$DOMU_ID listening after $(since "$t0") s"

kill -TERM "$worker_pid"
t_term=$(uptime_s)
rc=0
wait "$worker_pid" || rc=$?
worker_pid=
sed 's/^/  worker: /' "$work/worker.log"
[ "$rc" -eq 0 ] || die "the worker exited with $rc on SIGTERM"
echo "worker exited 0 on SIGTERM after $(since "$t_term") s"
