#!/bin/bash
# The HVM environment the virtio device model's scenario (50) builds on,
# proven without the project: Xen has HAP, `xl create -p` builds an HVM
# guest with qemu-xen, hvmloader and SeaBIOS, `xl unpause` boots Debian's
# kernel directly, and the guest's own init checks a Xen PV disk
# (xen-blkfront; qemu-xen's qdisk back-end in dom0): found at the size dom0
# gave it, dom0's data read, O_DIRECT pattern round trips, an ext2 round
# trip, flush, discard when advertised, throughput figures and a short
# writer loop. dom0 then compares the image byte for byte with what the
# guest reports writing, and checks nothing of the guest is left after it
# powered off. Prints the boot times (create, unpause to init).
# scenario-timeout: 900
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/hvm.sh
source "$(dirname "$0")/lib/hvm.sh"
hvm_opt_in

name=hvm-guest
seed=45
pv_mib=64
writer_s=5
work=$(mktemp -d /tmp/hvm-guest.XXXXXX)
pv_img=/root/hvm-pv.img
serial=$work/serial.log
cfg=$work/$name.cfg

cleanup() {
    local rc=$1
    [ "$rc" -eq 0 ] || hvm_show_dm_log "$name"
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    rm -rf "$work" "$pv_img"
}
trap 'cleanup $?' EXIT

hvm_require_hap
hvm_image "$pv_img" "$pv_mib" $((seed + 102))
# xvdb: qdisk serves it (no loop devices needed, unlike blkback on a file);
# libxl also hands it to qemu-xen as an IDE disk, which the guest's kernel
# unplugs at boot in favour of xen-blkfront.
extra="xenvhost.disks=pv xenvhost.pv_size=$((pv_mib * HVM_MIB)) xenvhost.seed=$seed"
extra+=" xenvhost.checks=read,pattern,fs,flush,discard,perf xenvhost.perf=2 xenvhost.writer=$writer_s"
hvm_config "$cfg" "$name" "$serial" "$extra" "format=raw,vdev=xvdb,access=rw,backendtype=qdisk,target=$pv_img"

t0=$(uptime_s)
xl create -p "$cfg" >"$work/create.log" 2>&1 || { cat "$work/create.log"; die "xl create -p failed"; }
t_created=$(uptime_s)
domid=$(xl domid "$name")
echo "xl create -p: domid $domid after $(since "$t0" "$t_created") s"
xl unpause "$name"
t_unpause=$(uptime_s)
hvm_wait_for "$serial" '^GUEST-INIT ' 600
t_init=$(uptime_s)
hvm_wait_for "$serial" '^GUEST-DONE ' 200
t_done=$(uptime_s)
hvm_show_console "$serial"
echo "FIGURES hvm boot: xl create -p $(since "$t0" "$t_created") s; unpause to the guest's init" \
    "$(since "$t_unpause" "$t_init") s (its kernel's uptime then $(hvm_guest_uptime "$serial" GUEST-INIT) s);" \
    "init to GUEST-DONE $(since "$t_init" "$t_done") s"

hvm_require_pass "$serial" pv-find pv-driver pv-read pv-pattern pv-fs pv-flush pv-perf pv-writer
hvm_show_perf "$serial"
hvm_wait_gone "$name" 60
hvm_compare_image "$serial" pv "$pv_img"
hvm_require_nothing_left "$domid"
echo "domain $domid, its xenstore directory and its qemu-xen are gone"
