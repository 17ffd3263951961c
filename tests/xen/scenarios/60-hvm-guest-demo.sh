#!/bin/bash
# `make demo`: the main job with a real guest. xenvhostd (installed in
# dom0) serves a stock Debian HVM guest two virtio disks: SeaBIOS boots the
# guest from the first (its kernel and initramfs come in through
# xenvhost-dm and the worker), and the guest's own virtio_blk driver finds
# the second as a virtio-pci disk, writes and reads back data on it with
# O_DIRECT and through ext4. While the guest runs, dom0 shows xenvhost-status
# and the status keys; then xl destroy, and nothing of the guest is left.
# dom0 finally checks the image against what the guest wrote.
#
# Runs only under `make demo` (dom0 word xenvhost.demo): scenario 50 covers
# the same ground and more in the test run. Every step prints
# "STEP <name> <seconds> <what>" and lines worth showing "SHOW <text>";
# tests/xen/demo.sh shows only those.
#
# scenario-timeout: 900
set -euo pipefail
if ! grep -qw 'xenvhost\.demo' /proc/cmdline; then
    echo "SKIP: the demo runs only under make demo (scenario 50 covers it in tests)"
    exit 0
fi
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/hvm.sh
source "$(dirname "$0")/lib/hvm.sh"
hvm_with_retry "$@"

name=demo-hvm
seed=60
vd_mib=64
boot_vdev=xvde
vd_vdev=xvdf
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/hvm-demo.XXXXXX)
run_dir=$work/run
vd_img=/root/demo-vd.img
boot_img=/root/demo-boot.img
serial=$work/serial.log
cfg=$work/$name.cfg
daemon_pid=
domid=
# Faults xenvhost logged (a refused or broken device): a triple fault
# after them is not taken for the environment's (hvm_require_running).
hvm_own_faults() { grep -E "$HVM_OWN_FAULTS" "$work/daemon.log" 2>/dev/null || true; }

step() {
    local what=$1 t0=$2
    shift 2
    echo "STEP $what $(since "$t0") $*"
}
show() { sed 's/^/SHOW /'; }
daemon_gone() { [ "$(cut -d' ' -f3 "/proc/$daemon_pid/stat" 2>/dev/null || echo Z)" = Z ]; }

cleanup() {
    local rc=$1
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 daemon_gone || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ]; then
        hvm_show_firmware "$serial"
        hvm_lines "$serial" | tail -n 40 | sed 's/^/  guest| /'
        [ ! -s "$work/daemon.log" ] || tail -n 60 "$work/daemon.log" | sed 's/^/  xenvhostd: /'
    fi
    rm -rf "$work" "$vd_img" "$boot_img"
}
trap 'cleanup $?' EXIT
trap 'exit 143' TERM  # dom0's scenario timeout: clean up and show why

hvm_require_hap

t0=$(uptime_s)
xenvhostd --run-dir "$run_dir" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
serving() { grep -q 'serving virtio devices' "$work/daemon.log" || daemon_gone; }
wait_until 30 serving || die "xenvhostd did not start within 30 s"
if daemon_gone; then die "xenvhostd exited at start"; fi
step service "$t0" "$(command -v xenvhostd) pid $daemon_pid"

t0=$(uptime_s)
hvm_image "$vd_img" "$vd_mib" $((seed + 100))
extra="xenvhost.disks=vd xenvhost.seed=$seed xenvhost.stay xenvhost.vd_size=$((vd_mib * HVM_MIB))"
extra+=" xenvhost.checks=read,pattern,fs,flush"
hvm_boot_disk "$boot_img" "$extra"
hvm_config "$cfg" "$name" "$serial" \
    "backendtype=standalone,specification=virtio,vdev=$boot_vdev,access=ro,target=$boot_img" \
    "backendtype=standalone,specification=virtio,vdev=$vd_vdev,target=$vd_img"
grep -E "^(type|memory|disk)" "$cfg" | show
xenvhost-create --timeout 60 "$cfg" >"$work/create.log" 2>&1 || { cat "$work/create.log"; die "xenvhost-create failed"; }
t_unpause=$(uptime_s)
domid=$(xl domid "$name")
HVM_DOMID=$domid
# libxl's note that disks past xvdd get no emulated IDE twin is noise here.
grep -v 'Only 4 emulated IDE disks\|will be available via PV drivers' "$work/create.log" | show
step create "$t0" "HVM guest $name (domid $domid) created paused, its xenvhost-dm and workers ready, unpaused"

hvm_wait_for "$serial" '^GUEST-INIT ' 360
step boot "$t_unpause" "SeaBIOS booted the guest from its virtio disk (kernel uptime at init: $(hvm_guest_uptime "$serial" GUEST-INIT) s)"

t0=$(uptime_s)
hvm_wait_for "$serial" '^GUEST-DONE ' 240
hvm_lines "$serial" | grep '^GUEST-DMESG ' | grep -E 'virtio_blk|vd[a-z]' | sed 's/^GUEST-DMESG /guest kernel: /' | show
hvm_lines "$serial" | grep -E '^GUEST-CHECK vd-' | sed 's/^GUEST-CHECK /guest: /' | show
hvm_require_pass "$serial" vd-find vd-driver vd-read vd-pattern vd-fs vd-flush
step guest "$t0" "the guest's own virtio_blk driver: disk found, data written and read back"

t0=$(uptime_s)
xenvhost-status | show
xenstore-ls -fp "$be_root/$domid" | grep -E '/(state|xenvhost-[a-z-]+) ' | sed "s|^$be_root/||" | show
step status "$t0" "while the guest runs"

t0=$(uptime_s)
xl destroy "$name"
none_running() { ! pidof "$1" >/dev/null; }
wait_until 20 none_running xenvhost-dm || die "xenvhost-dm still runs after xl destroy"
wait_until 20 none_running xenvhost-worker || die "a worker still runs after xl destroy"
hvm_require_nothing_left "$domid"
xenstore-exists "$be_root/$domid" && die "$be_root/$domid is still there"
[ -z "$(find "$run_dir" -type s)" ] || die "sockets left in $run_dir"
step destroy "$t0" "no device model, worker, socket, xenstore directory or domain left"

t0=$(uptime_s)
hvm_compare_image "$serial" vd "$vd_img" | show
step image "$t0" "dom0 checked the image"

kill -TERM "$daemon_pid"
wait "$daemon_pid" || die "xenvhostd exited with $? on SIGTERM"
daemon_pid=
