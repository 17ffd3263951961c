#!/bin/bash
# A stock Debian HVM guest's own virtio-blk driver uses a disk served by the
# project: xenvhostd runs, `xenvhost-create` creates the guest paused with a
# read-write and a read-only virtio disk (and a Xen PV disk to compare
# with), xenvhostd starts the guest's xenvhost-dm, which puts virtio-pci
# block devices on the guest's PCI bus (slot 00:10 upward) before the
# unpause, and relays to the guest's xenvhost-worker. The guest's init
# (tests/xen/hvm-guest/init) finds the disks, checks O_DIRECT data, a file
# system, flush, discard, the read-only disk, measures both disk kinds, and
# runs a writer loop while dom0 SIGKILLs the worker several times: no I/O
# error and every block verified. dom0 compares the images byte for byte
# with what the guest reports writing, shows the status keys, destroys the
# guest and checks that no device model, worker, socket or domain is left.
#
# What this assumes about the device model (see tests/xen/README.md):
#  - it is installed as /usr/sbin/xenvhost-dm (without it this scenario is
#    skipped) and xenvhostd starts it per HVM guest with virtio disks: one
#    process named xenvhost-dm whose command line names the guest's domid;
#  - xenvhostd writes state 2 (what xenvhost-create waits for before the
#    unpause) only once the device model's PCI devices are in place;
#  - after a worker is killed, xenvhostd starts a new one (xenvhost-worker-pid
#    changes, xenvhost-restarts counts up) and the device model reconnects
#    and completes the guest's requests without an error to the guest;
#  - after xl destroy the device model exits by itself.
#
# scenario-timeout: 1200
set -euo pipefail
if [ ! -x /usr/sbin/xenvhost-dm ]; then
    echo "SKIP: no xenvhost-dm in /usr/sbin"
    exit 0
fi
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/hvm.sh
source "$(dirname "$0")/lib/hvm.sh"
hvm_opt_in
hvm_with_retry "$@"

name=hvm-virtio
seed=50
# Sizes tell the guest which disk is which; read-write disks need >= 64 MiB
# (the guest's layout), the read-only one only its first MiB.
vd_mib=64
ro_mib=16
pv_mib=72
# From xvde up, not xvda: libxl also hands disks xvda-xvdd to qemu-xen as
# IDE disks (qemu-xen opens and locks the image; SeaBIOS would try to boot
# the first of them), and refuses a read-only one. The boot disk has the
# lowest devid, so xenvhostd puts it in the first PCI slot and SeaBIOS
# makes it drive 0x80.
boot_vdev=xvde
vd_vdev=xvdf
ro_vdev=xvdg
pv_vdev=xvdh
vd_devid=$(((202 << 8) | (5 << 4)))  # xvdf = 51792
ro_devid=$(((202 << 8) | (6 << 4)))  # xvdg = 51808
writer_s=45       # the guest's writer loop
kills=3           # SIGKILLs of the worker during it
kill_gap=6        # seconds between two kills
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/hvm-virtio.XXXXXX)
run_dir=$work/run
vd_img=/root/hvm-vd.img
ro_img=/root/hvm-ro.img
pv_img=/root/hvm-pv.img
boot_img=/root/hvm-boot-50.img
serial=$work/serial.log
cfg=$work/$name.cfg
daemon_pid=
dm_pid=
domid=

# Faults xenvhost logged (a refused or broken device): a triple fault
# after them is not taken for the environment's (hvm_require_running).
hvm_own_faults() { grep -E "$HVM_OWN_FAULTS" "$work/daemon.log" 2>/dev/null || true; }
daemon_gone() { [ "$(cut -d' ' -f3 "/proc/$daemon_pid/stat" 2>/dev/null || echo Z)" = Z ]; }

# On a failure: the device model's counters and ioreq slot states and the
# worker's rings (their SIGUSR1 lines, in the daemon's log), Xen's view of
# the event channels.
diagnose() {
    local w
    if [ -n "$dm_pid" ] && kill -USR1 "$dm_pid" 2>/dev/null; then sleep 1; fi
    w=$(worker_of "$vd_devid")
    if [ -n "$w" ] && kill -USR1 "$w" 2>/dev/null; then sleep 1; fi
    [ -z "$dm_pid" ] || hvm_show_threads "$dm_pid" xenvhost-dm
    [ -z "$w" ] || hvm_show_threads "$w" xenvhost-worker
    [ -z "$domid" ] || hvm_show_crash "$domid"
    xl dmesg 2>/dev/null | grep -v '^(XEN) .*\(s=[0-9]\|port \[\)' | tail -n 40 | sed 's/^/  xen| /' || true
    hvm_show_firmware "$serial"
    hvm_lines "$serial" | tail -n 20 | sed 's/^/  guest| /'
}

cleanup() {
    local rc=$1
    [ "$rc" -eq 0 ] || diagnose
    [ "$rc" -eq 0 ] || hvm_show_dm_log "$name"
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    # A crashed guest is preserved (under another name) for diagnose.
    if [ -n "$domid" ] && ! hvm_domid_unlisted "$domid"; then xl destroy "$domid" || true; fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 daemon_gone || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$work/daemon.log" ]; then
        tail -n 250 "$work/daemon.log" | sed 's/^/  xenvhostd: /'
        # Every worker's, not only the last 250 lines': a buffer the guest would not see as written.
        echo "  buffers that differed through a new mapping (xenvhost.verify): $(grep -c 'differs through a new mapping' "$work/daemon.log" || true)"
        grep -m 5 'differs through a new mapping' "$work/daemon.log" | sed 's/^/  xenvhostd: /' || true
    fi
    rm -rf "$work" "$vd_img" "$ro_img" "$pv_img" "$boot_img"
}
trap 'cleanup $?' EXIT
trap 'exit 143' TERM  # dom0's scenario timeout: clean up and show why

start_daemon() {
    local prog t0
    for prog in xenvhostd xenvhost-worker xenvhost-create; do
        command -v "$prog" >/dev/null || die "$prog is not installed in dom0"
    done
    t0=$(uptime_s)
    local -a worker=()
    # dom0 word xenvhost.verify: the worker reads back every buffer it wrote
    # through a new mapping (a mapping that lost the guest's frames shows).
    if grep -qw 'xenvhost\.verify' /proc/cmdline; then
        printf '#!/bin/sh\nexec xenvhost-worker --verify-guest-writes "$@"\n' >"$work/worker-verify"
        chmod +x "$work/worker-verify"
        worker=(--worker "$work/worker-verify")
        echo "the worker verifies every buffer it writes (xenvhost.verify)"
    fi
    xenvhostd --run-dir "$run_dir" --log-level debug "${worker[@]}" >"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    serving() { grep -q 'serving virtio devices' "$work/daemon.log" || daemon_gone; }
    wait_until 30 serving || die "xenvhostd did not start within 30 s"
    if daemon_gone; then die "xenvhostd exited at start"; fi
    echo "xenvhostd pid $daemon_pid serving after $(since "$t0") s"
}

make_images() {
    hvm_image "$vd_img" "$vd_mib" $((seed + 100))
    hvm_image "$ro_img" "$ro_mib" $((seed + 101))
    hvm_image "$pv_img" "$pv_mib" $((seed + 102))
    ro_md5=$(md5sum <"$ro_img" | cut -d' ' -f1)
}

# xenvhost-create: paused, every virtio back-end in state 2, unpaused.
create_guest() {
    local extra t0 rc=0
    extra="xenvhost.disks=vd,ro,pv xenvhost.seed=$seed xenvhost.stay xenvhost.busy"
    extra+=" xenvhost.vd_size=$((vd_mib * HVM_MIB)) xenvhost.ro_size=$((ro_mib * HVM_MIB)) xenvhost.pv_size=$((pv_mib * HVM_MIB))"
    extra+=" xenvhost.checks=read,pattern,fs,flush,discard,perf xenvhost.perf=2 xenvhost.writer=$writer_s"
    # nokaslr: a crashed guest's addresses match dom0's kallsyms (hvm_show_crash).
    hvm_boot_disk "$boot_img" "nokaslr $extra"
    hvm_config "$cfg" "$name" "$serial" \
        "backendtype=standalone,specification=virtio,vdev=$boot_vdev,access=ro,target=$boot_img" \
        "backendtype=standalone,specification=virtio,vdev=$vd_vdev,target=$vd_img" \
        "backendtype=standalone,specification=virtio,vdev=$ro_vdev,access=ro,target=$ro_img" \
        "format=raw,vdev=$pv_vdev,access=rw,backendtype=qdisk,target=$pv_img"
    hvm_preserve_on_crash "$cfg"
    t0=$(uptime_s)
    xenvhost-create --timeout 60 "$cfg" >"$work/create.log" 2>&1 || rc=$?
    t_unpause=$(uptime_s)
    sed 's/^/  xenvhost-create: /' "$work/create.log"
    [ "$rc" -eq 0 ] || die "xenvhost-create exited with $rc"
    domid=$(xl domid "$name") || die "xenvhost-create succeeded but there is no domain $name"
    HVM_DOMID=$domid
    echo "FIGURES xenvhost-create of the HVM guest (paused, back-ends ready, unpaused): $(since "$t0" "$t_unpause") s; domid $domid"
}

# The device model of the guest runs; prints its command line.
check_device_model() {
    local pid devid found=
    for pid in $(pidof xenvhost-dm || true); do
        case " $(tr '\0' ' ' <"/proc/$pid/cmdline") " in
            *" $domid "* | *"=$domid "*) found=$pid ;;
        esac
    done
    [ -n "$found" ] || die "no xenvhost-dm process names domid $domid (running: $(pidof xenvhost-dm || echo none))"
    dm_pid=$found
    echo "xenvhost-dm pid $found: $(tr '\0' ' ' <"/proc/$found/cmdline")"
    for devid in "$vd_devid" "$ro_devid"; do
        xenstore-exists "$be_root/$domid/$devid" || die "no back-end directory $be_root/$domid/$devid"
    done
    check_dropped "$found" xenvhost-dm
    check_dropped "$(worker_of "$vd_devid")" xenvhost-worker
}

# PID (NAME) runs as the guest's identity (range base + domid), with no
# capabilities, no_new_privs, a seccomp filter and mount and network
# namespaces of its own: the device model and the worker drop alike.
check_dropped() {
    local pid=$1 name=$2 status base ns
    [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || die "$name: no process to check ($pid)"
    status=$(cat "/proc/$pid/status")
    field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$status"; }
    base=$(id -u xenvhost-range-base) || die "no user xenvhost-range-base"
    [ "$(field Uid)" = $((base + domid)) ] || die "$name $pid runs as uid $(field Uid), not $((base + domid))"
    [ "$(field Gid)" = $((base + domid)) ] || die "$name $pid runs as gid $(field Gid)"
    [ "$(field CapEff)" = 0000000000000000 ] && [ "$(field CapBnd)" = 0000000000000000 ] ||
        die "$name $pid has capabilities"
    [ "$(field NoNewPrivs)" = 1 ] && [ "$(field Seccomp)" = 2 ] || die "$name $pid has no no_new_privs or no seccomp filter"
    for ns in mnt net; do
        [ "$(readlink "/proc/$pid/ns/$ns")" != "$(readlink /proc/self/ns/$ns)" ] || die "$name $pid shares dom0's $ns namespace"
    done
    echo "$name pid $pid: uid $(field Uid), no capabilities, no_new_privs, seccomp filter, own mount and network namespaces"
}

worker_of() { xenstore-read "$be_root/$domid/$1/xenvhost-worker-pid" 2>/dev/null || true; }
new_worker() { local p; p=$(worker_of "$1"); [ -n "$p" ] && [ "$p" != "$2" ] && kill -0 "$p"; }

# While the guest's writer loop runs on the virtio disk, SIGKILLs the
# worker serving it KILLS times, KILL_GAP s apart, each time waiting for
# xenvhostd's replacement. The guest's writer check (vd-writer) then says
# whether any write failed and whether every block reads back right.
kill_worker_under_io() {
    local i pid t0 restarts
    hvm_wait_for "$serial" '^GUEST-WRITER-START vd ' 360
    echo "the guest's writer loop runs ($writer_s s); killing its worker $kills times, $kill_gap s apart"
    for ((i = 1; i <= kills; i++)); do
        sleep "$kill_gap"
        pid=$(worker_of "$vd_devid")
        if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then die "no live worker for the virtio disk before kill $i"; fi
        t0=$(uptime_s)
        kill -KILL "$pid"
        wait_until 30 new_worker "$vd_devid" "$pid" || die "no new worker within 30 s of SIGKILL $i (pid $pid)"
        echo "FIGURES kill $i: worker $pid SIGKILLed; worker $(worker_of "$vd_devid") up after $(since "$t0") s"
    done
    restarts=$(xenstore-read "$be_root/$domid/$vd_devid/xenvhost-restarts")
    [ "$restarts" -ge "$kills" ] || die "xenvhost-restarts is $restarts after $kills kills"
    hvm_wait_for "$serial" '^GUEST-CHECK vd-writer ' $((4 * writer_s + 60))
    hvm_lines "$serial" | grep '^GUEST-CHECK vd-writer ' | sed 's/^/  guest| /'
}

# The read-write virtio disk's PCI function is at slot 00:10 or above.
check_pci_slot() {
    local line slot
    line=$(hvm_lines "$serial" | grep '^GUEST-CHECK vd-driver PASS')
    slot=$(sed -n 's/.*over virtio-pci 0000:00:\([0-9a-f][0-9a-f]\)\..*/\1/p' <<<"$line")
    [ -n "$slot" ] || die "no PCI address in: $line"
    [ $((16#$slot)) -ge 16 ] || die "the virtio disk is at slot 00:$slot, below 00:10"
    echo "the guest's virtio disk is a virtio-pci function at slot 00:$slot"
}

show_status_keys() {
    local dir
    for dir in "$be_root/$domid" "/local/domain/0/device-model/$domid"; do
        xenstore-ls -fp "$dir" 2>/dev/null | sed 's/^/  /' || echo "  ($dir: none)"
    done
}

# Per request of the read-write virtio disk over the guest's life: the
# device model's ioreqs, kicks and interrupts (its SIGUSR1 line) against
# the requests and interrupts the guest's kernel counted (GUEST-STAT).
show_per_request() {
    local pid=$1 line stat requests irqs ioreqs kicks ints reconnects
    kill -USR1 "$pid"
    counted() { grep -q "xenvhost-dm\[$pid\].*ioreqs: .*device virtio_disk-$vd_devid:" "$work/daemon.log"; }
    wait_until 10 counted || die "xenvhost-dm pid $pid logged no counters after SIGUSR1"
    line=$(grep "xenvhost-dm\[$pid\].*ioreqs: " "$work/daemon.log" | tail -n 1)
    echo "  xenvhost-dm| ${line#*ioreqs: }" | tr ';' '\n'
    line=$(sed -n "s/.*device virtio_disk-$vd_devid: \([0-9]*\) ioreqs, \([0-9]*\) kicks, [0-9]* calls, \([0-9]*\) interrupts, \([0-9]*\) reconnects.*/\1 \2 \3 \4/p" <<<"$line")
    read -r ioreqs kicks ints reconnects <<<"$line"
    stat=$(hvm_lines "$serial" | grep '^GUEST-STAT vd ' | tail -n 1)
    requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$stat")
    irqs=$(sed -n 's/.* interrupts=\([0-9-]*\).*/\1/p' <<<"$stat")
    [ -n "$ioreqs" ] && [ -n "$requests" ] && [ "$requests" -gt 0 ] || die "no counts to divide: dm '$line', guest '$stat'"
    echo "FIGURES per request of the virtio disk ($requests requests, guest's own count):" \
        "$(awk -v i="$ioreqs" -v k="$kicks" -v n="$ints" -v r="$requests" -v g="$irqs" 'BEGIN {
            printf "%.2f ioreq round trips, %.2f kicks, %.2f interrupts asserted by the device model, guest saw %s interrupts (%.2f)",
                i / r, k / r, n / r, g, (g ~ /^[0-9]+$/ ? g / r : 0) }')"
    echo "FIGURES back-end reconnects of the virtio disk: $reconnects"
}

none_running() { ! pidof "$1" >/dev/null; }

# The read-only disk's kicks, from the device model's SIGUSR1 line.
ro_kicks() {
    local line
    kill -USR1 "$dm_pid" || return 1
    sleep 1
    line=$(grep "xenvhost-dm\[$dm_pid\].*ioreqs: " "$work/daemon.log" | tail -n 1)
    sed -n "s/.*device virtio_disk-$ro_devid: [0-9]* ioreqs, \([0-9]*\) kicks.*/\1/p" <<<"$line"
}

# After xl destroy during the guest's reads: nothing of the guest may be left.
destroy_and_check() {
    local t0 left k0 k1
    hvm_wait_for "$serial" '^GUEST-BUSY ' 60
    k0=$(ro_kicks)
    k1=$(ro_kicks)
    [ -n "$k0" ] && [ -n "$k1" ] && [ "$k1" -gt "$k0" ] || die "the guest's reads do not reach the read-only disk (kicks $k0, then $k1)"
    echo "the guest reads its read-only disk (kicks $k0, then $k1 a second later): destroying it during I/O"
    t0=$(uptime_s)
    xl destroy "$name" >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; die "xl destroy failed"; }
    echo "FIGURES xl destroy: $(since "$t0") s"
    wait_until 20 none_running xenvhost-dm || die "xenvhost-dm still runs 20 s after xl destroy: $(pidof xenvhost-dm)"
    wait_until 20 none_running xenvhost-worker || die "a xenvhost-worker still runs 20 s after xl destroy: $(pidof xenvhost-worker)"
    # A domain that stays listed (dying) is what a process still holding
    # foreign mappings of its memory would leave; once the domain is gone
    # Xen has destroyed its ioreq servers too.
    hvm_require_nothing_left "$domid"
    if xenstore-exists "$be_root/$domid"; then die "$be_root/$domid is still there"; fi
    [ ! -e "$run_dir/dom$domid" ] || die "xenvhostd left $run_dir/dom$domid behind"
    left=$(find "$run_dir" -type s 2>/dev/null)
    [ -z "$left" ] || die "sockets left in $run_dir: $left"
    echo "after xl destroy: no xenvhost-dm, worker, socket, backend directory, qemu-xen or domain left ($(since "$t0") s)"
}

stop_daemon() {
    local rc=0
    kill -TERM "$daemon_pid"
    wait "$daemon_pid" || rc=$?
    daemon_pid=
    [ "$rc" -eq 0 ] || die "xenvhostd exited with $rc on SIGTERM"
}

hvm_require_hap
start_daemon
make_images
create_guest
check_device_model
hvm_wait_for "$serial" '^GUEST-INIT ' 360
t_init=$(uptime_s)
echo "FIGURES hvm boot: unpause to the guest's init $(since "$t_unpause" "$t_init") s" \
    "(its kernel's uptime then $(hvm_guest_uptime "$serial" GUEST-INIT) s)"
kill_worker_under_io
hvm_wait_for "$serial" '^GUEST-DONE ' 240
echo "FIGURES init to GUEST-DONE $(since "$t_init") s"
hvm_show_console "$serial"
show_status_keys
show_per_request "$dm_pid"
hvm_require_pass "$serial" vd-find vd-driver vd-read vd-pattern vd-fs vd-flush vd-perf vd-writer \
    ro-find ro-driver ro-read ro-flag ro-refuses-write \
    pv-find pv-driver pv-read pv-pattern pv-fs pv-flush pv-perf
check_pci_slot
hvm_show_perf "$serial"
destroy_and_check
hvm_compare_image "$serial" vd "$vd_img"
hvm_compare_image "$serial" pv "$pv_img"
[ "$(md5sum <"$ro_img" | cut -d' ' -f1)" = "$ro_md5" ] || die "the read-only image changed"
echo "$ro_img is unchanged"
stop_daemon
