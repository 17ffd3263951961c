#!/bin/sh
# /init of the QEMU test guest (busybox ash). One initramfs serves every case;
# the case is chosen by words on the kernel command line:
#
#   xvt.test=rw      write a random pattern to /dev/vda (conv=fsync), drop caches,
#                    read it back with O_DIRECT; fragment memory and write and read
#                    it again with O_DIRECT through scattered buffers (requests
#                    with the most segments); write signatures at two sectors
#   xvt.test=mq      the same, with both halves written and read concurrently,
#                    one dd pinned to each vCPU, with O_DIRECT
#   xvt.test=ro      the disk must be read-only: try to write, read the host's
#                    pattern (plainly, then through a scattered buffer)
#   xvt.mib=N        size of the pattern in MiB (default 32)
#   xvt.sig=SECTOR   first signature sector (default: just past the pattern);
#                    the second signature goes to the last sector of the disk
#   xvt.shell        open a shell on the console instead of powering off
#
# Each step prints one line "XVT <uptime> <STEP> key=value..." on the console
# (ttyS0). The guest only reports what it saw; the host harness follows these
# lines, times the steps and decides PASS or FAIL.

PATH=/bin:/sbin
export PATH

now() { read -r up _ </proc/uptime; echo "$up"; }
mark() { echo "XVT $(now) $*"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
md5() { md5sum "$1" | cut -d' ' -f1; }
count() { echo $#; }

# dd's complaint, if any, as marker lines (its record counts left out).
notes() { grep -v -e ' records in$' -e ' records out$' "$1" | sed 's/^/XVT - NOTE /' || true; }

# Interrupt counts of the virtio-blk request queues, as "q0=N q1=M".
queue_irqs() {
    awk '$NF ~ /^virtio[0-9]+-req\.[0-9]+$/ {
        n = 0
        for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i
        q = $NF; sub(/.*req\./, "", q)
        printf "q%s=%d ", q, n
    }' /proc/interrupts
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o size=256M tmpfs /tmp
# The kernel found no /dev/console in the initramfs; the console exists now.
exec </dev/console >/dev/console 2>&1

TEST=none
MIB=32
SIG=
SHELL_AFTER=0
read -r cmdline </proc/cmdline
for word in $cmdline; do
    case $word in
        xvt.test=*) TEST=${word#*=} ;;
        xvt.mib=*) MIB=${word#*=} ;;
        xvt.sig=*) SIG=${word#*=} ;;
        xvt.shell) SHELL_AFTER=1 ;;
    esac
done
# Past the pattern, so that the host can check both independently.
[ -n "$SIG" ] || SIG=$(((MIB + 1) * 2048))

find_disk() {
    t0=$(now)
    modprobe virtio_pci
    modprobe virtio_blk
    i=0
    while [ ! -b /dev/vda ] || [ ! -e /sys/block/vda/size ]; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            mark NO-DISK secs="$(since "$t0")"
            cat /proc/partitions
            return 1
        fi
        sleep 0.1
    done
    SECTORS=$(cat /sys/block/vda/size)
    mark DISK secs="$(since "$t0")" bytes=$((SECTORS * 512)) \
        ro="$(cat /sys/block/vda/ro)" \
        queues="$(count /sys/block/vda/mq/*)" \
        lbs="$(cat /sys/block/vda/queue/logical_block_size)" \
        maxsegs="$(cat /sys/block/vda/queue/max_segments)"
    # On its own line: a serial may hold any printable character.
    mark SERIAL "$(cat /sys/block/vda/serial 2>/dev/null)"
}

make_pattern() {
    t0=$(now)
    dd if=/dev/urandom of=/tmp/pattern bs=1M count="$MIB" 2>/dev/null
    mark PATTERN mib="$MIB" md5="$(md5 /tmp/pattern)" secs="$(since "$t0")"
}

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# Reads the first MIB MiB of the disk with O_DIRECT into /tmp/readback.
read_back() {
    t0=$(now)
    rc=0
    dd if=/dev/vda of=/tmp/readback bs=1M count="$MIB" iflag=direct 2>/tmp/err || rc=$?
    mark READ rc=$rc bytes=$((MIB * 1048576)) secs="$(since "$t0")" md5="$(md5 /tmp/readback)"
    [ $rc -eq 0 ] || notes /tmp/err
}

# Leaves guest memory as a checkerboard of used and free pages, so that the
# buffer of the next dd is physically scattered and its O_DIRECT requests carry
# as many segments as the disk allows (max_segments), not a few merged ones.
fragment_memory() {
    t0=$(now)
    mkdir -p /tmp/frag
    i=0
    while [ $i -lt 1024 ]; do
        printf '%4096s' '' >/tmp/frag/keep$i
        printf '%4096s' '' >/tmp/frag/free$i
        i=$((i + 1))
    done
    rm -f /tmp/frag/free*
    mark FRAGMENT pages=1024 secs="$(since "$t0")"
}

# O_DIRECT read of the first MIB MiB through a scattered buffer.
scatter_read() {
    t0=$(now)
    rc=0
    dd if=/dev/vda of=/tmp/scattered bs=1M count="$MIB" iflag=direct 2>/tmp/err || rc=$?
    mark SCATTER-READ rc=$rc bytes=$((MIB * 1048576)) secs="$(since "$t0")" md5="$(md5 /tmp/scattered)"
    [ $rc -eq 0 ] || notes /tmp/err
    rm -f /tmp/scattered
}

# O_DIRECT write of the pattern (again) through a scattered buffer.
scatter_write() {
    t0=$(now)
    rc=0
    dd if=/tmp/pattern of=/dev/vda bs=1M oflag=direct conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark SCATTER-WRITE rc=$rc bytes=$((MIB * 1048576)) secs="$(since "$t0")"
    [ $rc -eq 0 ] || notes /tmp/err
}

# Writes "xvt-sig-<sector>" at SIG and at the last sector of the disk.
sign() {
    for s in "$SIG" $((SECTORS - 1)); do
        rc=0
        printf 'xvt-sig-%s' "$s" |
            dd of=/dev/vda bs=512 seek="$s" conv=notrunc,fsync 2>/tmp/err || rc=$?
        mark SIG sector="$s" rc=$rc
        [ $rc -eq 0 ] || notes /tmp/err
    done
}

test_rw() {
    make_pattern
    t0=$(now)
    rc=0
    dd if=/tmp/pattern of=/dev/vda bs=1M conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark WRITE rc=$rc bytes=$((MIB * 1048576)) secs="$(since "$t0")"
    [ $rc -eq 0 ] || notes /tmp/err
    drop_caches
    read_back
    fragment_memory
    scatter_write
    scatter_read
    sign
}

test_mq() {
    make_pattern
    half=$((MIB / 2))
    irq0=$(queue_irqs)
    t0=$(now)
    taskset 1 dd if=/tmp/pattern of=/dev/vda bs=1M count=$half \
        oflag=direct conv=notrunc,fsync 2>/tmp/err0 &
    p0=$!
    taskset 2 dd if=/tmp/pattern of=/dev/vda bs=1M skip=$half seek=$half count=$half \
        oflag=direct conv=notrunc,fsync 2>/tmp/err1 &
    p1=$!
    rc0=0; wait $p0 || rc0=$?
    rc1=0; wait $p1 || rc1=$?
    mark WRITE rc=$((rc0 | rc1)) bytes=$((2 * half * 1048576)) secs="$(since "$t0")" split=cpu0,cpu1
    cat /tmp/err0 /tmp/err1 >/tmp/err
    [ $((rc0 | rc1)) -eq 0 ] || notes /tmp/err
    drop_caches

    t0=$(now)
    taskset 1 dd if=/dev/vda of=/tmp/r0 bs=1M count=$half iflag=direct 2>/tmp/err0 &
    p0=$!
    taskset 2 dd if=/dev/vda of=/tmp/r1 bs=1M skip=$half count=$half iflag=direct 2>/tmp/err1 &
    p1=$!
    rc0=0; wait $p0 || rc0=$?
    rc1=0; wait $p1 || rc1=$?
    cat /tmp/r0 /tmp/r1 >/tmp/readback
    mark READ rc=$((rc0 | rc1)) bytes=$((2 * half * 1048576)) secs="$(since "$t0")" \
        md5="$(md5 /tmp/readback)" split=cpu0,cpu1
    cat /tmp/err0 /tmp/err1 >/tmp/err
    [ $((rc0 | rc1)) -eq 0 ] || notes /tmp/err
    mark IRQ-BEFORE "$irq0"
    mark IRQ-AFTER "$(queue_irqs)"
    fragment_memory
    scatter_write
    scatter_read
    sign
}

test_ro() {
    rc=0
    dd if=/dev/zero of=/dev/vda bs=4096 count=1 oflag=direct conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark RO-WRITE mode=direct rc=$rc
    notes /tmp/err
    rc=0
    dd if=/dev/zero of=/dev/vda bs=4096 count=1 conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark RO-WRITE mode=buffered rc=$rc
    notes /tmp/err
    read_back
    fragment_memory
    scatter_read
}

main() {
    # shellcheck disable=SC3040  # busybox ash has pipefail
    set -eu -o pipefail
    mark READY kernel="$(uname -r)" cpus="$(nproc)" test="$TEST" mib="$MIB"
    find_disk
    case $TEST in
        rw) test_rw ;;
        mq) test_mq ;;
        ro) test_ro ;;
        *) mark UNKNOWN-TEST "$TEST"; return 2 ;;
    esac
}

# A subshell so that set -e inside main() ends main(), never init itself;
# not tested with || because that would disable set -e inside it.
(main)
rc=$?
if [ $rc -eq 0 ]; then mark DONE; else mark ABORT rc=$rc; fi

if [ $SHELL_AFTER -eq 1 ]; then setsid cttyhack sh; fi
poweroff -f
