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

cleanup() {
    local rc=$1
    if [ -n "$xl_pid" ] && kill -0 "$xl_pid" 2>/dev/null; then kill "$xl_pid" || true; fi
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
domid=$(xl domid "$name") || die "no domain $name while its disk is being added"
echo "backend directory written $(since "$t0") s after xl create (guest domid $domid); libxl waits for state 2:"
xenstore-ls -fp "$be_root"

dir=$be_root/$domid/$devid
expect_node "$dir/state" 1
expect_node "$dir/online" 1
expect_node "$dir/type" standalone
expect_node "$dir/specification" virtio
expect_node "$dir/transport" mmio
expect_node "$dir/base" 0
expect_node "$dir/irq" 0
expect_node "$dir/params" "$img"
expect_node "$dir/frontend-id" "$domid"
expect_node "$dir/dev" xvda
expect_node "$dir/mode" w
expect_node "$dir/frontend" "/local/domain/$domid/device/virtio_disk/$devid"
expect_node "/local/domain/$domid/device/virtio_disk/$devid/state" 1
echo "backend and frontend nodes are as libxl 4.17 writes them"

rc=0
wait "$xl_pid" || rc=$?
xl_pid=
t_end=$(uptime_s)
echo "xl create exited with $rc after $(since "$t0") s ($(since "$t_be" "$t_end") s after the backend directory appeared); its output:"
sed 's/^/  xl: /' "$work/xl.log"
[ "$rc" -ne 0 ] || die "xl create succeeded although no back-end answered"
at_least "$(since "$t_be" "$t_end")" 9.5 || die "xl gave up before libxl's 10 s wait for state 2"

if xl domid "$name" >/dev/null 2>&1; then die "domain $name is still there"; fi
if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
if xenstore-exists "$be_root/$domid"; then die "$be_root/$domid is still there"; fi
[ "$(xl domid domU)" = "$DOMU_ID" ] || die "the first guest (domid $DOMU_ID) is gone"
echo "no domain, frontend or backend node left behind; guest $DOMU_ID still running"
