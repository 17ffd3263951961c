#!/bin/bash
# A compromised worker on the real Xen gets nothing beyond its own guest.
# xenvhostd runs with xenvhost-worker-escape, the worker built with a test
# hook that, once the worker has dropped its privileges, tries what code
# taking a worker over through its guest's rings would try, and logs each
# attempt as "escape: WHAT: refused (REASON)" or "escape: WHAT: SUCCEEDED".
# Here the target is dom0 itself: map dom0's frames with the worker's own
# privcmd handle (restricted to its guest by the real privcmd driver), open
# /dev/xen/privcmd and /dev/xen/gntdev again, open a dom0 file, signal and
# ptrace a dom0 process, make a socket, reach the same through an io_uring
# of its own, exec a shell. Every attempt must be refused, the dom0 process
# must be untouched, and the worker's /proc status must show the drop:
# its guest's uid, no capabilities, no_new_privs, a seccomp filter, its own
# mount and network namespaces. The guest is a PV test guest created with xl
# (a dom0 test tool plays no part: the hook runs inside the worker).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

name=escape
devid=51712  # xvda
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/compromised.XXXXXX)
run_dir=$work/run
img=$work/disk.img
secret=$work/dom0-secret
daemon_pid=
victim_pid=

gone() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }
cleanup() {
    local rc=$1
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 gone "$daemon_pid" || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$victim_pid" ]; then kill "$victim_pid" 2>/dev/null || true; fi
    if [ "$rc" -ne 0 ] && [ -s "$work/daemon.log" ]; then sed 's/^/  xenvhostd: /' "$work/daemon.log"; fi
    rm -rf "$work"
}
trap 'cleanup $?' EXIT

command -v xenvhost-worker-escape >/dev/null || die "xenvhost-worker-escape is not in dom0's image"
worker_prog=$(command -v xenvhost-worker-escape)

# The dom0 side the worker must not reach: a root process, a file.
sleep 100000 &
victim_pid=$!
echo "$victim_pid" >"$work/victim.pid"
echo "dom0 data" >"$secret"
chmod 0600 "$secret"
truncate -s 16M "$img"

t0=$(uptime_s)
XENVHOST_ESCAPE_DOMID=any XENVHOST_ESCAPE_VICTIM_DOMID=0 XENVHOST_ESCAPE_VICTIM_PIDFILE="$work/victim.pid" \
    XENVHOST_ESCAPE_VICTIM_IMAGE="$secret" \
    xenvhostd --run-dir "$run_dir" --worker "$worker_prog" --log-level debug >"$work/daemon.log" 2>&1 &
daemon_pid=$!
serving() { grep -q 'serving virtio devices' "$work/daemon.log" || gone "$daemon_pid"; }
wait_until 30 serving || die "xenvhostd did not start within 30 s"
if gone "$daemon_pid"; then die "xenvhostd exited at start"; fi

cat >"$work/$name.cfg" <<CFG
name = "$name"
type = "pv"
memory = 128
vcpus = 1
kernel = "/root/vmlinux"
ramdisk = "/root/domU.cpio.gz"
extra = "console=hvc0 rdinit=/init quiet"
disk = [ 'backendtype=standalone,specification=virtio,vdev=xvda,target=$img' ]
CFG
xl create "$work/$name.cfg" >"$work/create.log" 2>&1 || die "xl create failed: $(cat "$work/create.log")"
domid=$(xl domid "$name")
dir=$be_root/$domid/$devid
done_attacking() { grep -q 'escape: done' "$work/daemon.log"; }
wait_until 30 done_attacking || die "the compromised worker logged no 'escape: done' within 30 s"
grep 'escape: ' "$work/daemon.log" | sed 's/^/  /'

for attempt in "open /dev/xen/privcmd" "open /dev/xen/gntdev" "open another guest's image" \
    "map another domain's frame with its own privcmd handle" "signal another guest's worker" \
    "ptrace another guest's worker" "create a socket" "open another guest's image through io_uring" \
    "open /dev/xen/privcmd through io_uring" "exec a shell"; do
    grep -qF "escape: $attempt: refused" "$work/daemon.log" || die "no refusal logged for: $attempt"
done
if grep -q 'SUCCEEDED' "$work/daemon.log"; then die "an escape attempt succeeded"; fi
kill -0 "$victim_pid" 2>/dev/null || die "the dom0 process the worker tried to signal is gone"

# The worker is the guest's own, deprivileged, and still the one serving it.
worker_pid=$(xenstore-read "$dir/xenvhost-worker-pid") || die "no worker pid in $dir"
kill -0 "$worker_pid" 2>/dev/null || die "the worker $worker_pid is gone after its attempts"
[ "$(xenstore-read "$dir/state")" = 4 ] || [ "$(xenstore-read "$dir/state")" = 2 ] ||
    die "the disk is in state $(xenstore-read "$dir/state"), not served"
status=/proc/$worker_pid/status
# The first value of a field (Uid's real uid; the whole value of the others).
field() { awk -v k="$1:" '$1 == k { print $2 }' "$status"; }
uid=$(field Uid)
[ "$uid" != 0 ] || die "the worker runs as root"
base=$(id -u xenvhost-range-base)
[ "$uid" = $((base + domid)) ] || die "the worker's uid is $uid, not the range base $base + domid $domid"
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(field "$set")" = 0000000000000000 ] || die "$set is $(field "$set")"
done
[ "$(field NoNewPrivs)" = 1 ] || die "no_new_privs is not set"
[ "$(field Seccomp)" = 2 ] || die "no seccomp filter"
for ns in mnt net; do
    [ "$(readlink "/proc/$worker_pid/ns/$ns")" != "$(readlink "/proc/self/ns/$ns")" ] ||
        die "the worker shares dom0's $ns namespace"
done
echo "worker $worker_pid of dom$domid: uid $uid, no capabilities, no_new_privs, seccomp, own mount and network namespaces"

t_destroy=$(uptime_s)
xl destroy "$name" || die "xl destroy failed"
wait_until 15 gone "$worker_pid" || die "the worker outlived its guest"
echo "FIGURES compromised worker: 10 escape attempts refused on the real Xen; xenvhostd start to the checks done" \
    "$(since "$t0" "$t_destroy") s"
