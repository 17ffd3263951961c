#!/bin/bash
# An HVM guest on the project's own kernel (make guest-kernel: XEN_VIRTIO
# with XEN_VIRTIO_FORCE_GRANT, /root/hvm-guest-kernel in dom0) reaches its
# virtio disks through grants: its kernel grants every buffer to dom0 and
# puts 1<<63 | gref<<12 in the rings. xenvhostd is told with
# --virtio-disk-keys that the guest's disks have grant_usage=1 (libxl 4.17
# writes no grant_usage for disks), so the guest's xenvhost-dm sends the
# guest's grant space as a no-advance grant region and the worker
# (--grant-access map) maps the rings long-lived and each request's buffers
# with one batched gntdev call per direction, unmapped before the used
# element is published. The guest checks O_DIRECT data, an ext4 file
# system, flush, its read-only disk and that each disk's transport device
# took grant DMA ops; dom0 compares the image with what the guest wrote,
# shows the worker's map calls per request, counts the worker's syscalls
# per request (strace) while the guest reads its read-only disk in a loop,
# destroys the guest and checks that nothing is left.
#
# Then the same workload on the foreign path in the same run: Debian's own
# guest kernel (no XEN_VIRTIO: guest-physical addresses in its rings, the
# worker maps them as foreign frames) with the same disks, so the grant
# path's throughput is printed against it. (The project's kernel cannot use
# the foreign path: with XEN_VIRTIO_FORCE_GRANT it refuses a virtio device
# without VIRTIO_F_ACCESS_PLATFORM, as it does the boot disk here.)
#
# The boot disk stays on the foreign path over virtio-pci: SeaBIOS reads it
# with guest-physical addresses.
#
# HVM_GRANT_TRANSPORT=mmio (scenario 54): the read-write disk on the device
# model's virtio-mmio transport instead (see 54-hvm-mmio-disk.sh).
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
guest_kernel=/root/hvm-guest-kernel
if [ ! -r "$guest_kernel" ]; then
    echo "SKIP: no $guest_kernel in dom0 (make guest-kernel builds it; make xen-images puts it there)"
    exit 0
fi
hvm_with_retry "$@"

transport=${HVM_GRANT_TRANSPORT:-pci}
name=hvm-grant-$transport
seed=52
vd_mib=64
ro_mib=16
boot_vdev=xvde
vd_vdev=xvdf
ro_vdev=xvdg
vd_devid=$(((202 << 8) | (5 << 4)))  # xvdf = 51792
ro_devid=$(((202 << 8) | (6 << 4)))  # xvdg = 51808
# The foreign guest's disks: other devids, which --virtio-disk-keys leaves alone.
fvd_vdev=xvdh
fro_vdev=xvdi
fvd_devid=$(((202 << 8) | (7 << 4)))  # xvdh = 51824
# virtio-mmio on x86 (scenario 54): a window in the MMIO hole above
# hvmloader's reserved pages (0xfc000000-0xfdffffff) and below the IOAPIC,
# and an ISA IRQ no emulated device or PCI link uses (links: 5, 10, 11).
mmio_base=0xfe000000
mmio_irq=7
trace_s=3         # strace of the worker while the guest reads its ro disk
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/hvm-grant.XXXXXX)
run_dir=$work/run
vd_img=/root/hvm-grant-vd.img
ro_img=/root/hvm-grant-ro.img
boot_img=/root/hvm-boot-52.img
serial=$work/serial.log
cfg=$work/$name.cfg
daemon_pid=
domid=
HVM_DOMID=

hvm_own_faults() { grep -E "$HVM_OWN_FAULTS" "$work/daemon.log" 2>/dev/null || true; }
daemon_gone() { [ "$(cut -d' ' -f3 "/proc/$daemon_pid/stat" 2>/dev/null || echo Z)" = Z ]; }
worker_of() { xenstore-read "$be_root/$domid/$1/xenvhost-worker-pid" 2>/dev/null || true; }

diagnose() {
    local dm w
    dm=$(pidof xenvhost-dm || true)
    w=$(worker_of "$vd_devid")
    [ -z "$dm" ] || kill -USR1 "$dm" 2>/dev/null || true
    [ -z "$w" ] || kill -USR1 "$w" 2>/dev/null || true
    sleep 1
    [ -z "$domid" ] || hvm_show_crash "$domid"
    xl dmesg 2>/dev/null | grep -v '^(XEN) .*\(s=[0-9]\|port \[\)' | tail -n 30 | sed 's/^/  xen| /' || true
    hvm_show_firmware "$serial"
    hvm_lines "$serial" | tail -n 40 | sed 's/^/  guest| /'
}

cleanup() {
    local rc=$1
    [ "$rc" -eq 0 ] || diagnose
    [ "$rc" -eq 0 ] || hvm_show_dm_log "$name"
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    if [ -n "$domid" ] && ! hvm_domid_unlisted "$domid"; then xl destroy "$domid" || true; fi
    stop_daemon_quietly
    if [ "$rc" -ne 0 ] && [ -s "$work/daemon.log" ]; then
        tail -n 150 "$work/daemon.log" | sed 's/^/  xenvhostd: /'
    fi
    rm -rf "$work" "$vd_img" "$ro_img" "$boot_img"
}
trap 'cleanup $?' EXIT
trap 'exit 143' TERM

stop_daemon_quietly() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 daemon_gone || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    daemon_pid=
}

# xenvhostd with the keys libxl 4.17 cannot write for the grant guest's
# disks, and a worker that maps each request's buffers (--grant-access
# map; auto would copy requests of up to 64 KiB with grant copy instead).
start_daemon() {
    local vd_keys="$vd_devid grant_usage=1"
    [ "$transport" != mmio ] || vd_keys+=",base=$mmio_base,irq=$mmio_irq"
    printf '#!/bin/sh\nexec xenvhost-worker --grant-access map "$@"\n' >"$work/worker-map"
    chmod +x "$work/worker-map"
    xenvhostd --run-dir "$run_dir" --log-level debug --worker "$work/worker-map" \
        --virtio-disk-keys "$vd_keys" --virtio-disk-keys "$ro_devid grant_usage=1" >"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    serving() { grep -q 'serving virtio devices' "$work/daemon.log" || daemon_gone; }
    wait_until 30 serving || die "xenvhostd did not start within 30 s"
    if daemon_gone; then die "xenvhostd exited at start"; fi
    echo "xenvhostd pid $daemon_pid: --virtio-disk-keys '$vd_keys' --virtio-disk-keys '$ro_devid grant_usage=1'," \
        "worker with --grant-access map"
}

# The boot disk with KERNEL (the project's or Debian's) and the kernel words EXTRA.
boot_disk() {
    local kernel=$1 extra=$2
    hvm_boot_disk "$boot_img" "nokaslr $extra"
    if [ -n "$kernel" ]; then mcopy -o -i "$boot_img" "$kernel" ::vmlinuz || die "cannot put $kernel on the boot disk"; fi
}

# xenvhost-create of guest NAME with the given vd and ro vdevs.
create_guest() {
    local vd=$1 ro=$2 rc=0 t0
    hvm_config "$cfg" "$name" "$serial" \
        "backendtype=standalone,specification=virtio,vdev=$boot_vdev,access=ro,target=$boot_img" \
        "backendtype=standalone,specification=virtio,vdev=$vd,target=$vd_img" \
        "backendtype=standalone,specification=virtio,vdev=$ro,access=ro,target=$ro_img"
    hvm_preserve_on_crash "$cfg"
    t0=$(uptime_s)
    xenvhost-create --timeout 60 "$cfg" >"$work/create.log" 2>&1 || rc=$?
    sed 's/^/  xenvhost-create: /' "$work/create.log"
    [ "$rc" -eq 0 ] || die "xenvhost-create exited with $rc"
    domid=$(xl domid "$name") || die "xenvhost-create succeeded but there is no domain $name"
    HVM_DOMID=$domid
    echo "FIGURES xenvhost-create of $name: $(since "$t0") s; domid $domid"
}

# The device model's command line must give DEVICE the regions and transport asked for.
check_model_spec() {
    local devid=$1 want=$2 pid args
    pid=$(pidof xenvhost-dm) || die "no xenvhost-dm runs"
    args=$(tr '\0' ' ' <"/proc/${pid%% *}/cmdline")
    grep -qE "name=virtio_disk-$devid,[^ ]*$want" <<<"$args" ||
        die "xenvhost-dm's device virtio_disk-$devid has no '$want': $args"
    echo "xenvhost-dm device virtio_disk-$devid: $(grep -oE "name=virtio_disk-$devid,[^ ]*" <<<"$args")"
}

# The worker's counters of DEVID (its SIGUSR1 line in the daemon's log):
# "requests map-calls unmap-calls copy-calls".
counters() {
    local devid=$1 w n before line
    w=$(worker_of "$devid")
    [ -n "$w" ] || die "no worker for virtio_disk-$devid"
    before=$(grep -c "device virtio_disk-$devid: .* requests, mapping" "$work/daemon.log" || true)
    kill -USR1 "$w"
    logged() { n=$(grep -c "device virtio_disk-$devid: .* requests, mapping" "$work/daemon.log" || true); [ "$n" -gt "$before" ]; }
    wait_until 10 logged || die "worker $w logged no counters after SIGUSR1"
    line=$(grep -o "device virtio_disk-$devid: [0-9]* requests, mapping [a-z-]*, map calls [0-9]*, unmap calls [0-9]*, pages mapped [0-9]*, map failures [0-9]*, grant access [a-z-]*, copy calls [0-9]*" \
        "$work/daemon.log" | tail -n 1)
    [ -n "$line" ] || die "no counters line for virtio_disk-$devid"
    echo "$line" >>"$work/counters.log"
    # shellcheck disable=SC2086
    set -- ${line//,/}
    echo "$3 $9 ${12} ${24}"
}

per_request() { awk -v a="$1" -v r="$2" 'BEGIN { printf "%.2f", (r > 0 ? a / r : 0) }'; }

# Map calls per request of the read-write disk over the guest's checks.
show_vd_counters() {
    local requests maps unmaps copies held
    read -r requests maps unmaps copies <<<"$(counters "$vd_devid")"
    tail -n 1 "$work/counters.log" | sed 's/^/  worker| /'
    [ "$requests" -gt 0 ] || die "the worker counted no requests of the read-write disk"
    [ "$maps" -gt 0 ] || die "the worker made no grant map call for the read-write disk: its buffers were not granted"
    # Held while the device runs: the rings (descriptor table, available and
    # used ring of its one queue), mapped long-lived; every request's
    # buffers are unmapped before its used element is published.
    held=$((maps - unmaps))
    if [ "$held" -lt 0 ] || [ "$held" -gt 3 ]; then
        die "map calls $maps, unmap calls $unmaps: $held mappings held, not the queue's 3 rings or fewer"
    fi
    echo "the worker holds $held grant mappings between requests (the rings, long-lived); every other map call was unmapped"
    echo "FIGURES grant path ($transport), read-write disk over the guest's checks: $requests requests," \
        "$(per_request $((maps - held)) "$requests") map calls and $(per_request "$unmaps" "$requests") unmap calls per request," \
        "$copies copy calls"
}

# While the guest reads its ro disk in a loop (xenvhost.busy): the worker's
# syscalls over TRACE_S s (strace -f -c, every thread) per ro request.
trace_ro_reads() {
    local w r0 m0 r1 m1 u1 u0 c0 c1 calls tracer mmaps ioctls traced
    hvm_wait_for "$serial" '^GUEST-BUSY ' 60
    w=$(worker_of "$ro_devid")
    strace -f -c -p "$w" -o "$work/strace.txt" >"$work/strace.out" 2>&1 &
    tracer=$!
    # The requests are counted only once strace follows every thread.
    all_traced() { ! grep -q '^TracerPid:[[:space:]]*0$' /proc/"$w"/task/*/status; }
    wait_until 20 all_traced || die "strace did not attach to every thread of the worker $w"
    read -r r0 m0 u0 c0 <<<"$(counters "$ro_devid")"
    sleep "$trace_s"
    read -r r1 m1 u1 c1 <<<"$(counters "$ro_devid")"
    kill -INT "$tracer"
    wait_until 20 eval '! kill -0 '"$tracer"' 2>/dev/null' || die "strace $tracer did not detach"
    wait "$tracer" 2>/dev/null || true
    calls=$(awk '$NF == "total" { print $4 }' "$work/strace.txt")
    mmaps=$(awk '$NF == "mmap" { print $4 }' "$work/strace.txt")
    ioctls=$(awk '$NF == "ioctl" { print $4 }' "$work/strace.txt")
    if [ -z "$calls" ] || [ -z "$mmaps" ] || [ $((r1 - r0)) -le 0 ] || [ $((m1 - m0)) -le 0 ]; then
        cat "$work/strace.txt" "$work/strace.out"
        die "no syscalls, mmaps or requests to divide"
    fi
    # strace follows the worker for a few seconds more than the counters'
    # window (attaching, the SIGUSR1s, detaching: slow under TCG), so the
    # requests it saw are counted by its mmaps: one per map call, and the
    # counters give the map calls per request.
    traced=$(awk -v m="$mmaps" -v d=$((m1 - m0)) -v r=$((r1 - r0)) 'BEGIN { printf "%.1f", m * r / d }')
    echo "  worker syscalls while the guest read its ro disk (strace attached to every thread; $((r1 - r0)) requests" \
        "counted in $trace_s s, about $traced traced, by the mmaps; they include the worker's answers to the SIGUSR1s):"
    awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { printf "    %-22s %8d\n", $NF, $4 }' "$work/strace.txt" |
        sort -k2 -n -r | head -n 12
    echo "FIGURES grant path ($transport), read-only disk reads (1 MiB O_DIRECT loop):" \
        "$(per_request $((m1 - m0)) $((r1 - r0))) map calls, $(per_request $((u1 - u0)) $((r1 - r0))) unmap calls," \
        "$(per_request $((c1 - c0)) $((r1 - r0))) copy calls per request;" \
        "$(per_request "$calls" "$traced") syscalls per request, of which $(per_request "${ioctls:-0}" "$traced") ioctls" \
        "and $(per_request "$mmaps" "$traced") mmaps"
}

destroy_and_check() {
    local t0
    t0=$(uptime_s)
    xl destroy "$name" >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; die "xl destroy failed"; }
    wait_until 20 eval '! pidof xenvhost-dm >/dev/null' || die "xenvhost-dm still runs 20 s after xl destroy"
    wait_until 20 eval '! pidof xenvhost-worker >/dev/null' || die "a worker still runs 20 s after xl destroy"
    # A dying domain that stays listed is what a grant mapping still held would leave.
    hvm_require_nothing_left "$domid"
    echo "after xl destroy: no device model, worker, qemu-xen or domain left ($(since "$t0") s)"
    domid=
    HVM_DOMID=
}

# The guest kernel's complaints about grants: a grant it could not end
# (still mapped by dom0) or a grant DMA error.
check_guest_grant_log() {
    local bad
    bad=$(hvm_lines "$serial" | grep -v '^GUEST-' | grep -iE 'grant.*(still in use|leak|busy)|xen[-_]grant[-_]dma|Cannot set up Xen grant' || true)
    [ -z "$bad" ] || die "the guest's kernel complained about grants: $(head -n 5 <<<"$bad" | tr '\n' '|')"
}

perf_of() { hvm_lines "$serial" | sed -n "s/^GUEST-PERF vd-$1 \\([0-9.]*\\) .*/\\1/p" | tail -n 1; }

hvm_require_hap
start_daemon
hvm_image "$vd_img" "$vd_mib" $((seed + 100))
hvm_image "$ro_img" "$ro_mib" $((seed + 101))

# ---- the grant guest
extra="xenvhost.disks=vd,ro xenvhost.seed=$seed xenvhost.stay xenvhost.busy xenvhost.grant=vd,ro"
extra+=" xenvhost.vd_size=$((vd_mib * HVM_MIB)) xenvhost.ro_size=$((ro_mib * HVM_MIB))"
extra+=" xenvhost.checks=read,pattern,fs,flush,perf xenvhost.perf=2"
# The x86 guest learns of a virtio-mmio device only from its command line.
[ "$transport" != mmio ] || extra+=" virtio_mmio.device=512@$mmio_base:$mmio_irq"
boot_disk "$guest_kernel" "$extra"
create_guest "$vd_vdev" "$ro_vdev"
if [ "$transport" = mmio ]; then
    check_model_spec "$vd_devid" "transport=mmio,base=$mmio_base,irq=$mmio_irq,regions=grant"
else
    check_model_spec "$vd_devid" "transport=pci,slot=[0-9]*,regions=grant"
fi
check_model_spec "$ro_devid" "regions=grant"
hvm_wait_for "$serial" '^GUEST-INIT ' 360
hvm_wait_for "$serial" '^GUEST-DONE ' 360
hvm_show_console "$serial"
hvm_require_pass "$serial" vd-find vd-driver vd-grant vd-read vd-pattern vd-fs vd-flush vd-perf \
    ro-find ro-driver ro-grant ro-read ro-flag ro-refuses-write grant-log
if [ "$transport" = mmio ]; then
    hvm_lines "$serial" | grep -q '^GUEST-CHECK vd-driver PASS .* over virtio-mmio ' ||
        die "the read-write disk is not on virtio-mmio: $(hvm_lines "$serial" | grep '^GUEST-CHECK vd-driver ')"
    xenstore-read "$be_root/$domid/$vd_devid/xenvhost-transport" | sed 's/^/  xenvhost-transport of the read-write disk: /'
fi
show_vd_counters
trace_ro_reads
check_guest_grant_log
declare -A grant_perf=()
for p in seq-write-1M-MBps seq-read-1M-MBps rand-read-4k-iops rand-write-4k-iops; do grant_perf[$p]=$(perf_of "$p"); done
destroy_and_check
hvm_compare_image "$serial" vd "$vd_img"
[ "$transport" = pci ] || { stop_daemon_quietly; echo "the guest's data is on the image"; exit 0; }

# ---- the same disks and workload on the foreign path: Debian's kernel
name=hvm-foreign
cfg=$work/$name.cfg
serial=$work/serial-foreign.log
hvm_image "$vd_img" "$vd_mib" $((seed + 100))
extra="xenvhost.disks=vd,ro xenvhost.seed=$seed"
extra+=" xenvhost.vd_size=$((vd_mib * HVM_MIB)) xenvhost.ro_size=$((ro_mib * HVM_MIB))"
extra+=" xenvhost.checks=read,perf xenvhost.perf=2"
boot_disk "" "$extra"
create_guest "$fvd_vdev" "$fro_vdev"
check_model_spec "$fvd_devid" "transport=pci,slot=[0-9]+( |$)"  # no regions key: foreign, the default
hvm_wait_for "$serial" '^GUEST-DONE ' 420
hvm_require_pass "$serial" vd-find vd-driver vd-read vd-perf ro-find ro-read
hvm_wait_gone "$name" 60
echo "throughput of the same guest workload, grant path (the project's kernel) against the foreign path (Debian's):"
for p in seq-write-1M-MBps seq-read-1M-MBps rand-read-4k-iops rand-write-4k-iops; do
    f=$(perf_of "$p")
    echo "FIGURES vd-$p: grant ${grant_perf[$p]:-?}, foreign ${f:-?}," \
        "grant/foreign $(awk -v g="${grant_perf[$p]:-0}" -v f="${f:-0}" 'BEGIN { printf (f > 0 ? "x%.2f" : "?"), g / f }')"
done
stop_daemon_quietly
