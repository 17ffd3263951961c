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
#   xvt.test=kr      I/O while the host kills and restarts the back-end: in
#                    each of xvt.passes passes, write the MIB 1 MiB blocks of
#                    the disk (xvt.streams writers at once, each block by its
#                    own dd with O_DIRECT + fsync), each block with contents
#                    it had in no earlier pass, timing every block; then read
#                    them back one by one with O_DIRECT and check each md5
#   xvt.test=rz      the disk grows while the guest runs: print RESIZE-READY,
#                    wait (up to 60 s) until /sys/block/vda/size changes (the
#                    host grows the image and sends the worker SIGHUP), report
#                    the kernel's "capacity change" lines, then write 1 MiB of
#                    random data ending within 4 KiB of the last sector of the
#                    new disk and a signature in that last sector, with
#                    O_DIRECT, and read both back
#   xvt.mib=N        size of the pattern in MiB (default 32)
#   xvt.passes=N     passes of the kr test (default 6)
#   xvt.streams=N    concurrent writers of the kr test (default 2)
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
PASSES=6
STREAMS=2
SHELL_AFTER=0
read -r cmdline </proc/cmdline
for word in $cmdline; do
    case $word in
        xvt.test=*) TEST=${word#*=} ;;
        xvt.mib=*) MIB=${word#*=} ;;
        xvt.sig=*) SIG=${word#*=} ;;
        xvt.passes=*) PASSES=${word#*=} ;;
        xvt.streams=*) STREAMS=${word#*=} ;;
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

# Block I of pass P holds pool block (I + P) mod MIB: all blocks of a pass
# differ, and a block never holds what it held in the pass before, so a lost,
# stale or misplaced write shows up in the read-back.
kr_source() { echo $((($2 + $1) % MIB)); }

# One 1 MiB block of the pool; /tmp/pool-md5 gets the md5 of each, a line each.
kr_make_pool() {
    t0=$(now)
    dd if=/dev/urandom of=/tmp/pool bs=1M count="$MIB" 2>/dev/null
    : >/tmp/pool-md5
    i=0
    while [ "$i" -lt "$MIB" ]; do
        dd if=/tmp/pool bs=1M skip="$i" count=1 2>/dev/null | md5sum | cut -d' ' -f1 >>/tmp/pool-md5
        i=$((i + 1))
    done
    mark PATTERN mib="$MIB" md5="$(md5 /tmp/pool)" secs="$(since "$t0")"
}

# The md5 that block I must have after pass P.
kr_expected() { sed -n "$(($(kr_source "$1" "$2") + 1))p" /tmp/pool-md5; }

# Writer S of pass P: blocks FIRST to LAST-1, one dd each (O_DIRECT, then
# fsync: a flush request). Appends "P I START END" per block to
# /tmp/kr-write-times.S, START being when the writer's previous block
# completed (or the pass began), and a line per failed write to
# /tmp/kr-write-errors.
kr_writer() {
    p=$1 s=$2 i=$3 last=$4
    read -r prev _ </proc/uptime
    while [ "$i" -lt "$last" ]; do
        rc=0
        dd if=/tmp/pool of=/dev/vda bs=1M skip="$(kr_source "$p" "$i")" seek="$i" count=1 \
            oflag=direct conv=notrunc,fsync 2>"/tmp/err.$s" || rc=$?
        read -r t _ </proc/uptime
        echo "$p $i $prev $t" >>"/tmp/kr-write-times.$s"
        prev=$t
        if [ $rc -ne 0 ]; then
            echo "$p $i" >>/tmp/kr-write-errors
            mark KR-WRITE-ERROR pass="$p" block="$i" rc=$rc
            notes "/tmp/err.$s"
        fi
        i=$((i + 1))
    done
}

# Writes every block of pass P with STREAMS writers, each on its own share.
kr_write_pass() {
    p=$1
    mark KR-PHASE pass="$p" phase=write
    pids=
    s=0
    while [ "$s" -lt "$STREAMS" ]; do
        kr_writer "$p" "$s" $((s * MIB / STREAMS)) $(((s + 1) * MIB / STREAMS)) &
        pids="$pids $!"
        s=$((s + 1))
    done
    for pid in $pids; do
        wait "$pid" || echo "$p writer" >>/tmp/kr-write-errors
    done
}

# Reads every block back with O_DIRECT, one dd each, and checks its md5
# against what pass P wrote there. Times go to /tmp/kr-read-times; failed
# reads count in READ_ERRORS, wrong blocks in BAD_BLOCKS.
kr_verify_pass() {
    p=$1
    mark KR-PHASE pass="$p" phase=read
    t0=$(now)
    bad=0
    i=0
    read -r prev _ </proc/uptime
    while [ "$i" -lt "$MIB" ]; do
        rc=0
        dd if=/dev/vda of=/tmp/block bs=1M skip="$i" count=1 iflag=direct 2>/tmp/err || rc=$?
        read -r t _ </proc/uptime
        echo "$p $i $prev $t" >>/tmp/kr-read-times
        prev=$t
        got=$(md5 /tmp/block)
        want=$(kr_expected "$p" "$i")
        if [ $rc -ne 0 ]; then
            READ_ERRORS=$((READ_ERRORS + 1))
            mark KR-READ-ERROR pass="$p" block="$i" rc=$rc
            notes /tmp/err
        elif [ "$got" != "$want" ]; then
            bad=$((bad + 1))
            mark KR-BAD-BLOCK pass="$p" block="$i" md5="$got" expected="$want"
        fi
        i=$((i + 1))
    done
    BAD_BLOCKS=$((BAD_BLOCKS + bad))
    mark KR-VERIFY pass="$p" blocks="$MIB" bad="$bad" secs="$(since "$t0")"
}

# "max=S pass=P block=I mean=S blocks=N" of a times file: the longest time a
# block operation took to complete after the previous one.
kr_stall() {
    awk '{ g = $4 - $3; n++; s += g; if (g > m) { m = g; where = "pass=" $1 " block=" $2 } }
        END { printf "max=%.3f %s mean=%.3f blocks=%d", m, where, n ? s / n : 0, n }' "$1"
}

test_kr() {
    kr_make_pool
    READ_ERRORS=0 BAD_BLOCKS=0
    rm -f /tmp/kr-write-times.* /tmp/kr-write-errors
    : >/tmp/kr-read-times
    : >/tmp/kr-write-errors
    kr_t0=$(now)
    mark KR-START passes="$PASSES" blocks="$MIB" streams="$STREAMS"
    p=0
    while [ "$p" -lt "$PASSES" ]; do
        kr_write_pass "$p"
        kr_verify_pass "$p"
        p=$((p + 1))
    done
    secs=$(since "$kr_t0")
    cat /tmp/kr-write-times.* >/tmp/kr-write-times
    # Every block write that completed half a second or more after its
    # writer's previous one.
    awk '{ g = $4 - $3; if (g >= 0.5) printf "XVT - KR-GAP pass=%d block=%d secs=%.3f\n", $1, $2, g }' \
        /tmp/kr-write-times
    mark KR-STALL op=write "$(kr_stall /tmp/kr-write-times)"
    mark KR-STALL op=read "$(kr_stall /tmp/kr-read-times)"
    ioerr=$(dmesg | grep -c 'I/O error' || true)
    dmesg | grep 'I/O error' | head -n 20 | sed 's/^/XVT - NOTE /' || true
    # What the disk must hold now, block by block, for the host to compare.
    i=0
    : >/tmp/final-md5
    while [ "$i" -lt "$MIB" ]; do
        kr_expected $((PASSES - 1)) "$i" >>/tmp/final-md5
        i=$((i + 1))
    done
    mark KR-END passes="$PASSES" written_mib=$((PASSES * MIB)) secs="$secs" \
        write_errors="$(wc -l </tmp/kr-write-errors)" \
        read_errors=$READ_ERRORS bad_blocks=$BAD_BLOCKS io_errors="$ioerr" block_md5s_md5="$(md5 /tmp/final-md5)"
}

test_rz() {
    old=$SECTORS
    # Only what the resize makes the kernel print is wanted below.
    dmesg -c >/dev/null
    mark RESIZE-READY sectors="$old"
    t0=$(now)
    i=0
    while [ "$(cat /sys/block/vda/size)" = "$old" ]; do
        i=$((i + 1))
        if [ $i -gt 600 ]; then
            mark RESIZE-TIMEOUT sectors="$old" secs="$(since "$t0")"
            return 1
        fi
        sleep 0.1
    done
    new=$(cat /sys/block/vda/size)
    lines=$(dmesg | grep -c 'capacity change' || true)
    mark RESIZED sectors="$new" secs="$(since "$t0")" capacity_change_lines="$lines"
    dmesg | grep -e 'capacity change' -e 'new size' | sed 's/^/XVT - NOTE /' || true

    # 1 MiB ending within 4 KiB of the last sector, which it leaves alone.
    off=$(((new * 512 - 512 - 1048576) / 4096 * 4096))
    dd if=/dev/urandom of=/tmp/endblock bs=1M count=1 2>/dev/null
    rc=0
    dd if=/tmp/endblock of=/dev/vda bs=4096 seek=$((off / 4096)) oflag=direct conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark END-WRITE rc=$rc offset="$off" bytes=1048576 md5="$(md5 /tmp/endblock)"
    [ $rc -eq 0 ] || notes /tmp/err
    rc=0
    dd if=/dev/vda of=/tmp/endback bs=4096 skip=$((off / 4096)) count=256 iflag=direct 2>/tmp/err || rc=$?
    mark END-READ rc=$rc offset="$off" md5="$(md5 /tmp/endback)"
    [ $rc -eq 0 ] || notes /tmp/err
    s=$((new - 1))
    sig="xvt-sig-$s"
    rc=0
    printf '%s' "$sig" | dd of=/dev/vda bs=512 seek="$s" conv=notrunc,fsync 2>/tmp/err || rc=$?
    mark SIG sector="$s" rc=$rc
    [ $rc -eq 0 ] || notes /tmp/err
    drop_caches
    rc=0
    dd if=/dev/vda of=/tmp/lastsector bs=512 skip="$s" count=1 iflag=direct 2>/tmp/err || rc=$?
    mark SIG-READ sector="$s" rc=$rc text="$(head -c ${#sig} /tmp/lastsector | tr -dc 'a-z0-9-')"
    [ $rc -eq 0 ] || notes /tmp/err
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
        kr) test_kr ;;
        rz) test_rz ;;
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
