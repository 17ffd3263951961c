#!/bin/bash
# libxl's side of a virtio disk served by a standalone back-end, with no
# back-end running: xl writes the backend directory (base and irq 0 on x86),
# waits 10 s for state 2 (InitWait), then fails and leaves no domain behind.
# This is the contract xenvhostd must meet by writing state 2 in time.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
: "${DOMU_ID:?DOMU_ID must name the running guest}"

name=vdisk-nobackend
img=/root/disk.img
devid=51712  # xvda: (202 << 8) | (0 << 4) | 0
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/vdisk.XXXXXX)
xl_pid=
watcher_pid=

cleanup() {
    local rc=$1 pid
    for pid in "$xl_pid" "$watcher_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid" || true; fi
    done
    if [ "$rc" -ne 0 ] && [ -s "$work/xl.log" ]; then sed 's/^/  xl: /' "$work/xl.log"; fi
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    rm -rf "$work" "$img"
}
trap 'cleanup $?' EXIT

truncate -s 64M "$img"
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

t0=$(uptime_s)
xl create "$work/$name.cfg" >"$work/xl.log" 2>&1 &
xl_pid=$!

# Building the PV guest takes seconds under TCG before libxl adds the disk.
backend_or_xl_gone() { xenstore-exists "$be_root" || ! kill -0 "$xl_pid"; }
wait_until 120 backend_or_xl_gone || die "libxl wrote no $be_root within 120 s"
xenstore-exists "$be_root" || die "xl create exited before writing $be_root"
t_be=$(uptime_s)
listing=$(xenstore-ls -fp "$be_root")
domid=$(xl domid "$name") || die "no domain $name while its disk is being added"
dir=$be_root/$domid/$devid
fe=/local/domain/$domid/device/virtio_disk/$devid
fe_listing=$(xenstore-ls -fp "$fe")

# Giving up, libxl writes online=0 and state=5 (Closing), then waits up to
# 10 s more for state 6 (Closed) before removing the directory itself. A
# background watcher times both, whatever the printing below costs.
state_moved() { [ "$(xenstore-read "$dir/state" 2>/dev/null || echo removed)" != 1 ]; }
dir_gone() { ! xenstore-exists "$dir"; }
(
    wait_until 60 state_moved || exit 1
    echo "$(uptime_s) $(xenstore-read "$dir/state" 2>/dev/null || echo removed) $(xenstore-read "$dir/online" 2>/dev/null || echo removed)" >"$work/closing"
    wait_until 60 dir_gone || exit 1
    uptime_s >"$work/gone"
) &
watcher_pid=$!

t_print=$(uptime_s)
echo "backend directory written $(since "$t0" "$t_be") s after xl create (guest domid $domid); libxl waits for state 2:"
echo "$listing"
echo "$fe_listing"
echo "(printing the listing took $(since "$t_print") s)"

t_check=$(uptime_s)
expect_listed "$listing" "$dir/state" 1
expect_listed "$listing" "$dir/online" 1
expect_listed "$listing" "$dir/type" standalone
expect_listed "$listing" "$dir/specification" virtio
expect_listed "$listing" "$dir/transport" mmio
expect_listed "$listing" "$dir/base" 0
expect_listed "$listing" "$dir/irq" 0
expect_listed "$listing" "$dir/params" "$img"
expect_listed "$listing" "$dir/frontend-id" "$domid"
expect_listed "$listing" "$dir/dev" xvda
expect_listed "$listing" "$dir/mode" w
expect_listed "$listing" "$dir/frontend" "$fe"
expect_listed "$fe_listing" "$fe/state" 1
expect_listed "$fe_listing" "$fe/backend" "$dir"
echo "backend and frontend nodes are as libxl 4.17 writes them (checked in $(since "$t_check") s)"

wait "$watcher_pid" || die "libxl neither gave up nor removed $dir within 60 s"
watcher_pid=
read -r t_closing closing online <"$work/closing"
t_gone=$(cat "$work/gone")
echo "libxl gave up on state 2 after $(since "$t_be" "$t_closing") s: backend state=$closing online=$online"
if [ "$closing" != 5 ] || [ "$online" != 0 ]; then die "expected state=5 online=0 from libxl giving up"; fi
at_least "$(since "$t_be" "$t_closing")" 9.0 || die "libxl gave up before its 10 s wait for state 2"
echo "backend directory removed $(since "$t_closing" "$t_gone") s after state 5 (libxl's wait for state 6)"

rc=0
wait "$xl_pid" || rc=$?
xl_pid=
t_end=$(uptime_s)
echo "xl create exited with $rc after $(since "$t0" "$t_end") s; its output:"
sed 's/^/  xl: /' "$work/xl.log"
[ "$rc" -ne 0 ] || die "xl create succeeded although no back-end answered"

if xl domid "$name" >/dev/null 2>&1; then die "domain $name is still there"; fi
if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
if xenstore-exists "$be_root/$domid"; then die "$be_root/$domid is still there"; fi
[ "$(xl domid domU)" = "$DOMU_ID" ] || die "the first guest (domid $DOMU_ID) is gone"
echo "no domain, frontend or backend node left behind; guest $DOMU_ID still running"
