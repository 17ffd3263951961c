# shellcheck shell=bash source-path=SCRIPTDIR
# The QEMU guest harness, sourced by run-tests.sh and demo.sh.
#
# One case = one disk image, one back-end process serving it on a unix socket,
# one QEMU run whose guest (tests/qemu/guest-init.sh) does the I/O and prints
# "XVT <uptime> <STEP> key=value..." lines on its serial console. The harness
# follows those lines live, then checks what the guest saw and what the image
# file holds, and prints one PASS/FAIL line per check.
#
# Environment:
#   BUILD            build directory (default: build)
#   BACKEND          worker (default) or qsd (qemu-storage-daemon)
#   WORKER           worker binary (default: $BUILD/bin/xenvhost-worker)
#   GUEST_KERNEL     guest kernel (default: $BUILD/qemu/vmlinuz)
#   GUEST_INITRAMFS  guest initramfs (default: $BUILD/qemu/guest.cpio.gz)
#   CASE_TIMEOUT     seconds one QEMU run may take (default: 240)
#   STALL_TIMEOUT    seconds the guest may go without printing a step (default: 60)
#   XVT_KEEP=1       keep the run directories of passing cases too
#   XVT_VERBOSE=1    print the full back-end and QEMU command lines
#   KR_*, INFLIGHT_KILL   the kill-restart case (see kill-restart.sh)
#   RZ_GROW_BYTES    the resize case (see resize.sh)
#   XVT_IOMMU_*      the iommu case (see iommu.sh)

BUILD=${BUILD:-build}
BACKEND=${BACKEND:-worker}
WORKER=${WORKER:-$BUILD/bin/xenvhost-worker}
GUEST_KERNEL=${GUEST_KERNEL:-$BUILD/qemu/vmlinuz}
GUEST_INITRAMFS=${GUEST_INITRAMFS:-$BUILD/qemu/guest.cpio.gz}
CASE_TIMEOUT=${CASE_TIMEOUT:-240}
STALL_TIMEOUT=${STALL_TIMEOUT:-60}
XVT_KEEP=${XVT_KEEP:-0}
XVT_VERBOSE=${XVT_VERBOSE:-0}

# Disk geometry shared by every case. An odd sector count catches a back-end
# that rounds the capacity to pages; the pattern stays clear of the signatures.
readonly XVT_IMAGE_BYTES=$((96 * 1048576 + 7 * 512))
readonly XVT_MIB=32
readonly XVT_SIG_SECTOR=$(((XVT_MIB + 1) * 2048 + 5))
readonly XVT_SERIAL=xvt-disk-0042

# The cases: NAME -> "GUEST-TEST QUEUES MODE BOOTS DESCRIPTION".
declare -A XVT_CASES=(
    [rw-1q]="rw 1 rw 1 read/write, 1 queue"
    [rw-2q]="mq 2 rw 1 read/write, 2 queues, I/O from both vCPUs"
    [ro-1q]="ro 1 ro 1 read-only disk, 1 queue"
    [reconnect]="rw 1 rw 2 two guests in turn on one back-end process"
    [kill-restart]="kr 1 rw 1 back-end killed (SIGKILL) and restarted during guest I/O"
    [resize]="rz 1 rw 1 image grown by the host and SIGHUP to the worker during the guest run"
    [iommu]="io 1 rw 1 read/write behind an emulated IOMMU (q35, intel-iommu with device IOTLB, ATS)"
    [iommu-strict]="io 1 rw 1 the same with the guest's IOMMU in strict mode (an INVALIDATE per unmap)"
)
XVT_ORDER=(rw-1q rw-2q ro-1q reconnect kill-restart resize iommu iommu-strict)
# Cases that need the worker; qemu-storage-daemon keeps no in-flight requests
# across a restart, so they are not run against it.
# qemu-storage-daemon (libvhost-user) has no IOTLB, so no iommu case either.
declare -A XVT_WORKER_ONLY=([kill-restart]=1 [resize]=1 [iommu]=1 [iommu-strict]=1)

XVT_BACKEND_PID=
XVT_QEMU_PID=
XVT_QEMU_ARGS=()

xvt_die() { echo "qemu tests: $*" >&2; exit 2; }

# Microseconds since the epoch, without forking.
xvt_us() { echo "${EPOCHREALTIME/./}"; }

# Seconds, one decimal, from a microsecond interval.
xvt_secs() { printf '%d.%d' $(($1 / 1000000)) $(($1 / 100000 % 10)); }

# Stops whatever this harness started, by pid: TERM first, KILL after 5 s.
xvt_stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

xvt_cleanup() {
    xvt_stop_pid "$XVT_QEMU_PID"
    xvt_stop_pid "$XVT_BACKEND_PID"
}

xvt_init() {
    command -v qemu-system-x86_64 >/dev/null || xvt_die "qemu-system-x86_64 not found (install qemu-system-x86)"
    [ -r "$GUEST_KERNEL" ] || xvt_die "no guest kernel $GUEST_KERNEL (run: make qemu-guest)"
    [ -r "$GUEST_INITRAMFS" ] || xvt_die "no guest initramfs $GUEST_INITRAMFS (run: make qemu-guest)"
    case $BACKEND in
        worker) [ -x "$WORKER" ] || xvt_die "no worker binary $WORKER (run: make all)" ;;
        qsd) command -v qemu-storage-daemon >/dev/null ||
            xvt_die "qemu-storage-daemon not found (install qemu-system-common)" ;;
        *) xvt_die "BACKEND must be worker or qsd, not '$BACKEND'" ;;
    esac
    mkdir -p "$BUILD/qemu"
    trap xvt_cleanup EXIT
    trap 'exit 130' INT TERM
}

# The serial the guest must see. qemu-storage-daemon has no option for it and
# always answers VIRTIO_BLK_T_GET_ID with "vhost_user_blk".
xvt_expected_serial() {
    if [ "$BACKEND" = qsd ]; then echo vhost_user_blk; else echo "$XVT_SERIAL"; fi
}

# Fills XVT_BACKEND_CMD for SOCK IMAGE QUEUES MODE(rw|ro).
xvt_backend_cmd() {
    local sock=$1 img=$2 queues=$3 mode=$4
    if [ "$BACKEND" = qsd ]; then
        local writable=on
        if [ "$mode" = ro ]; then writable=off; fi
        XVT_BACKEND_CMD=(qemu-storage-daemon
            --blockdev "driver=file,node-name=file0,filename=$img,cache.direct=off"
            --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=$queues")
    else
        XVT_BACKEND_CMD=("$WORKER" --socket-path "$sock" --blk-file "$img"
            --num-queues "$queues" --serial "$XVT_SERIAL")
        if [ "$mode" = ro ]; then XVT_BACKEND_CMD+=(--read-only); fi
    fi
}

# True once a unix socket bound to PATH (as given, or made absolute) is
# listening: flag __SO_ACCEPTCON in /proc/net/unix. This avoids connecting to
# the back-end just to probe it.
xvt_listening() {
    awk -v p="$1" -v a="$(realpath -m "$1")" '($NF == p || $NF == a) && $4 == "00010000" { found = 1 }
        END { exit !found }' /proc/net/unix
}

# A command line as one could paste it: words with blanks in single quotes.
xvt_cmdline() {
    local w out=""
    for w in "$@"; do
        if [[ $w == *[[:space:]]* ]]; then out+=" '$w'"; else out+=" $w"; fi
    done
    echo "${out# }"
}

# Host-side log line: elapsed case time, then the text.
xvt_say() {
    printf '  %6ss  %s\n' "$(xvt_secs $(($(xvt_us) - XVT_CASE_T0)))" "$*"
}

XVT_CASE_FAILS=0
xvt_pass() { printf '  PASS  %s\n' "$*"; }
xvt_fail() { printf '  FAIL  %s\n' "$*"; XVT_CASE_FAILS=$((XVT_CASE_FAILS + 1)); }
# xvt_check DESCRIPTION TEST-ARGS...: PASS or FAIL as `test` says.
xvt_check() {
    local what=$1
    shift
    if test "$@"; then xvt_pass "$what"; else xvt_fail "$what"; fi
}

# The fields of the latest marker of each step in the current run.
declare -A XVT_LAST_OF=()

# One marker line from the serial log: kept, and shown with both clocks.
xvt_on_line() {
    local line=${1%$'\r'} up step rest
    [[ $line == XVT\ * ]] || return 0
    XVT_LAST_MARK_US=$(xvt_us)
    echo "$line" >>"$XVT_MARKERS"
    read -r _ up step rest <<<"$line"
    XVT_LAST_OF[$step]=$rest
    if [ "$up" = - ]; then up=""; else up=T+$up; fi
    printf '  %6ss  guest %-8s %s %s\n' "$(xvt_secs $(($(xvt_us) - XVT_CASE_T0)))" "$up" "$step" "$rest"
}

# Follows LOG while PID lives. Returns 124 once LIMIT seconds have passed, and
# 125 once the guest has printed no step for STALL seconds (a hung disk).
# If XVT_FOLLOW_HOOK names a function, it runs between two reads of the log
# (every 0.2 s); when it fails, following stops with status 126.
xvt_follow() {
    local log=$1 pid=$2 limit=$3 stall=$4 fd line pending="" deadline now
    deadline=$(($(xvt_us) + limit * 1000000))
    XVT_LAST_MARK_US=$(xvt_us)
    exec {fd}<"$log"
    while :; do
        while IFS= read -r line <&"$fd"; do
            xvt_on_line "$pending$line"
            pending=""
        done
        # read gave up at end of file: keep the unfinished line for later.
        pending+=$line
        kill -0 "$pid" 2>/dev/null || break
        if [ -n "${XVT_FOLLOW_HOOK:-}" ] && ! "$XVT_FOLLOW_HOOK"; then
            exec {fd}<&-
            return 126
        fi
        now=$(xvt_us)
        if [ "$now" -gt "$deadline" ]; then
            exec {fd}<&-
            return 124
        fi
        if [ $((now - XVT_LAST_MARK_US)) -gt $((stall * 1000000)) ]; then
            exec {fd}<&-
            return 125
        fi
        sleep 0.2
    done
    while IFS= read -r line <&"$fd"; do
        xvt_on_line "$pending$line"
        pending=""
    done
    [ -z "$pending$line" ] || xvt_on_line "$pending$line"
    exec {fd}<&-
    return 0
}

# Fields of the first marker STEP that carries every KEY=VALUE given after it.
xvt_marker() {
    local step=$1
    shift
    awk -v step="$step" -v want="$*" '
        $3 != step { next }
        {
            n = split(want, w, " ")
            for (i = 1; i <= n; i++) {
                ok = 0
                for (j = 4; j <= NF; j++) if ($j == w[i]) ok = 1
                if (!ok) next
            }
            $1 = $2 = $3 = ""
            sub(/^ +/, "")
            print
            exit
        }' "$XVT_MARKERS"
}

# Value of KEY in a marker's fields ("k=v k2=v2"), empty if absent.
xvt_field() {
    local w
    for w in $1; do
        if [[ $w == "$2="* ]]; then
            echo "${w#*=}"
            return 0
        fi
    done
}

xvt_uptime() { awk -v step="$1" '$3 == step { print $2; exit }' "$XVT_MARKERS"; }

xvt_md5_region() { head -c "$2" "$1" | md5sum | cut -d' ' -f1; }

# Bytes at SECTOR of IMAGE, as many as EXPECT has; prints them.
xvt_sector_text() { dd if="$1" bs=512 skip="$2" count=1 status=none | head -c "${#3}"; }

# MB/s from a byte count and a guest duration in seconds.
xvt_rate() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f MB/s", b / s / 1e6; else print "n/a" }'; }

xvt_known_case() {
    [ -n "${XVT_CASES[$1]:-}" ] || xvt_die "unknown case '$1' (known: ${XVT_ORDER[*]})"
    [ "$BACKEND" = worker ] || [ -z "${XVT_WORKER_ONLY[$1]:-}" ] ||
        xvt_die "case '$1' needs BACKEND=worker"
}

# The cases run when none is named: those the back-end under test supports.
xvt_default_cases() {
    local name
    for name in "${XVT_ORDER[@]}"; do
        [ "$BACKEND" = worker ] || [ -z "${XVT_WORKER_ONLY[$name]:-}" ] || continue
        echo "$name"
    done
}

# Runs the case called NAME.
xvt_named_case() {
    local test queues mode boots desc
    read -r test queues mode boots desc <<<"${XVT_CASES[$1]}"
    if [ "$test" = kr ]; then
        xvt_kill_restart_case "$1" "$desc"
    elif [ "$test" = rz ]; then
        xvt_resize_case "$1" "$desc"
    elif [ "$test" = io ]; then
        xvt_iommu_case "$1" "$desc"
    else
        xvt_case "$1" "$test" "$queues" "$mode" "$boots" "$desc"
    fi
}

# Starts XVT_BACKEND_CMD with its output appended to LOG and waits up to 10 s
# until it listens on SOCK. Sets XVT_BACKEND_PID; on failure the process is
# stopped, XVT_BACKEND_PID is empty and the return status is 1.
xvt_start_backend() {
    local sock=$1 log=$2 t=0
    "${XVT_BACKEND_CMD[@]}" >>"$log" 2>&1 &
    XVT_BACKEND_PID=$!
    until xvt_listening "$sock"; do
        if ! kill -0 "$XVT_BACKEND_PID" 2>/dev/null || [ $t -ge 100 ]; then
            xvt_stop_pid "$XVT_BACKEND_PID"
            wait "$XVT_BACKEND_PID" || true
            XVT_BACKEND_PID=
            return 1
        fi
        sleep 0.1
        t=$((t + 1))
    done
}

# Runs one case: NAME TEST(rw|mq|ro) QUEUES MODE(rw|ro) BOOTS DESCRIPTION.
# BOOTS guests run one after the other against the same back-end process.
# Returns 0 when every check passed.
xvt_case() {
    local name=$1 test=$2 queues=$3 mode=$4 boots=$5 desc=$6
    local run img sock boot backend_status=0
    XVT_CASE_FAILS=0
    XVT_CASE_T0=$(xvt_us)
    echo "=== case $name: $desc (back-end: $BACKEND)"

    run=$(mktemp -d "$BUILD/qemu/run-$name.XXXXXX")
    img=$run/disk.img
    sock=$run/vhost-blk.sock
    XVT_SERIAL_LOG=$run/serial-1.log

    truncate -s "$XVT_IMAGE_BYTES" "$img"
    local host_md5="" image_md5_before=""
    if [ "$mode" = ro ]; then
        head -c $((XVT_MIB * 1048576)) /dev/urandom | dd of="$img" conv=notrunc status=none
        host_md5=$(xvt_md5_region "$img" $((XVT_MIB * 1048576)))
        image_md5_before=$(md5sum <"$img" | cut -d' ' -f1)
        xvt_say "host   image $XVT_IMAGE_BYTES bytes, first $XVT_MIB MiB random (md5 $host_md5)"
    else
        xvt_say "host   image $XVT_IMAGE_BYTES bytes, zeroed"
    fi

    xvt_backend_cmd "$sock" "$img" "$queues" "$mode"
    if [ "$XVT_VERBOSE" = 1 ]; then
        xvt_say "host   start back-end: $(xvt_cmdline "${XVT_BACKEND_CMD[@]}")"
    else
        xvt_say "host   start back-end: ${XVT_BACKEND_CMD[0]##*/} (queues=$queues, $mode)"
    fi
    if ! xvt_start_backend "$sock" "$run/backend.log"; then
        xvt_fail "back-end listening on $sock within 10 s"
        xvt_case_end "$name" "$run"
        return 1
    fi
    xvt_say "host   back-end listening (pid $XVT_BACKEND_PID)"

    for ((boot = 1; boot <= boots; boot++)); do
        XVT_SERIAL_LOG=$run/serial-$boot.log
        XVT_MARKERS=$run/markers-$boot
        [ "$boots" -eq 1 ] || echo "  --- guest $boot of $boots"
        xvt_boot "$run" "$sock" "$test" "$queues"
        xvt_verify "$test" "$queues" "$mode" "$img" "$host_md5" "$image_md5_before"
        # A back-end that died during the run is a failure of its own.
        if ! kill -0 "$XVT_BACKEND_PID" 2>/dev/null; then
            wait "$XVT_BACKEND_PID" || backend_status=$?
            XVT_BACKEND_PID=
            xvt_fail "back-end still running after the guest (it exited with status $backend_status)"
            break
        fi
        [ "$boot" -eq "$boots" ] || xvt_pass "back-end still running after the guest disconnected"
    done

    if [ -n "$XVT_BACKEND_PID" ]; then
        xvt_stop_pid "$XVT_BACKEND_PID"
        wait "$XVT_BACKEND_PID" || backend_status=$?
        XVT_BACKEND_PID=
        xvt_say "host   back-end stopped by SIGTERM (status $backend_status)"
        xvt_check "back-end exits 0 on SIGTERM (status $backend_status)" "$backend_status" -eq 0
    fi
    xvt_case_end "$name" "$run"
}

# One QEMU run of guest TEST against SOCK, followed live; checks QEMU's exit.
# XVT_CHARDEV_OPTS is appended to the socket chardev options; XVT_GUEST_ARGS,
# if set, replaces the guest's default xvt.mib and xvt.sig words. The array
# XVT_QEMU_ARGS goes before the other QEMU options, XVT_BLK_OPTS is appended
# to the vhost-user-blk-pci options and XVT_KERNEL_ARGS to the kernel's.
xvt_boot() {
    local run=$1 sock=$2 test=$3 queues=$4 status=0 qemu_status=0
    local guest_args=${XVT_GUEST_ARGS:-"xvt.mib=$XVT_MIB xvt.sig=$XVT_SIG_SECTOR"}
    : >"$XVT_MARKERS"
    : >"$XVT_SERIAL_LOG"
    XVT_LAST_OF=()
    local -a qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 512M "${XVT_QEMU_ARGS[@]}"
        -object "memory-backend-memfd,id=mem,size=512M,share=on" -numa "node,memdev=mem"
        -chardev "socket,id=c0,path=$sock${XVT_CHARDEV_OPTS:-}"
        -device "vhost-user-blk-pci,chardev=c0,num-queues=$queues${XVT_BLK_OPTS:-}"
        -nodefaults -display none -no-reboot -serial "file:$XVT_SERIAL_LOG"
        -kernel "$GUEST_KERNEL" -initrd "$GUEST_INITRAMFS"
        -append "console=ttyS0 rdinit=/init loglevel=4 panic=-1 xvt.test=$test $guest_args${XVT_KERNEL_ARGS:+ $XVT_KERNEL_ARGS}")
    if [ "$XVT_VERBOSE" = 1 ]; then
        xvt_say "host   start QEMU: $(xvt_cmdline "${qemu[@]}")"
    else
        xvt_say "host   start QEMU (TCG, 2 vCPUs, 512 MiB memfd), guest test '$test'"
    fi
    "${qemu[@]}" >>"$run/qemu.log" 2>&1 &
    XVT_QEMU_PID=$!

    xvt_follow "$XVT_SERIAL_LOG" "$XVT_QEMU_PID" "${XVT_RUN_TIMEOUT:-$CASE_TIMEOUT}" "$STALL_TIMEOUT" || status=$?
    case $status in
        124) xvt_fail "guest finished within ${XVT_RUN_TIMEOUT:-$CASE_TIMEOUT} s (QEMU killed)" ;;
        125) xvt_fail "guest kept making progress (no step for $STALL_TIMEOUT s after $(tail -n 1 "$XVT_MARKERS" | cut -d' ' -f3); QEMU killed)" ;;
        126) xvt_fail "the harness stopped the run (see above; QEMU killed)" ;;
    esac
    [ $status -eq 0 ] || xvt_stop_pid "$XVT_QEMU_PID"
    wait "$XVT_QEMU_PID" || qemu_status=$?
    XVT_QEMU_PID=
    xvt_say "host   QEMU exited (status $qemu_status)"
    # After a timeout QEMU was stopped by the harness; its status says nothing.
    [ $status -ne 0 ] || xvt_check "QEMU exits 0 (status $qemu_status)" "$qemu_status" -eq 0
}

# The checks of one finished run.
xvt_verify() {
    local test=$1 queues=$2 mode=$3 img=$4 host_md5=$5 image_md5_before=$6
    local disk serial expected done_at abort
    local bytes=$((XVT_MIB * 1048576))

    done_at=$(xvt_uptime DONE)
    abort=$(xvt_marker ABORT)
    if [ -n "$done_at" ]; then
        xvt_pass "guest completed its steps (DONE at T+${done_at}s)"
    else
        xvt_fail "guest completed its steps${abort:+ (ABORT $abort)}"
    fi

    disk=$(xvt_marker DISK)
    if [ -z "$disk" ]; then
        xvt_fail "guest found /dev/vda"
        return
    fi
    xvt_check "disk size seen by the guest = image size ($(xvt_field "$disk" bytes) vs $XVT_IMAGE_BYTES bytes)" \
        "$(xvt_field "$disk" bytes)" = "$XVT_IMAGE_BYTES"
    serial=$(sed -n 's/^XVT [^ ]* SERIAL //p' "$XVT_MARKERS" | head -n 1)
    expected=$(xvt_expected_serial)
    xvt_check "serial seen by the guest = '$expected' (got '$serial')" "$serial" = "$expected"
    xvt_check "queues seen by the guest = $queues (got $(xvt_field "$disk" queues))" \
        "$(xvt_field "$disk" queues)" = "$queues"
    local want_ro=0
    [ "$mode" = ro ] && want_ro=1
    xvt_check "/sys/block/vda/ro = $want_ro (got $(xvt_field "$disk" ro))" "$(xvt_field "$disk" ro)" = "$want_ro"

    if [ "$mode" = ro ]; then
        xvt_verify_ro "$img" "$host_md5" "$image_md5_before"
    else
        xvt_verify_rw "$test" "$queues" "$img"
    fi

    local write read secs
    write=$(xvt_marker WRITE)
    read=$(xvt_marker READ)
    printf '  time  disk found at T+%ss (modprobe + probe %ss)' "$(xvt_uptime DISK)" "$(xvt_field "$disk" secs)"
    if [ -n "$write" ]; then
        secs=$(xvt_field "$write" secs)
        printf ', write %s MiB %ss (%s)' $(($(xvt_field "$write" bytes) / 1048576)) "$secs" \
            "$(xvt_rate "$(xvt_field "$write" bytes)" "$secs")"
    fi
    if [ -n "$read" ]; then
        secs=$(xvt_field "$read" secs)
        printf ', O_DIRECT read %s MiB %ss (%s)' $((bytes / 1048576)) "$secs" "$(xvt_rate "$bytes" "$secs")"
    fi
    printf '\n'
}

xvt_verify_rw() {
    local test=$1 queues=$2 img=$3
    local pattern write read pmd5 s text last
    pattern=$(xvt_marker PATTERN)
    write=$(xvt_marker WRITE)
    read=$(xvt_marker READ)
    pmd5=$(xvt_field "$pattern" md5)
    xvt_check "guest write of $XVT_MIB MiB succeeded (rc=$(xvt_field "$write" rc))" "$(xvt_field "$write" rc)" = 0
    xvt_check "guest O_DIRECT read-back succeeded (rc=$(xvt_field "$read" rc))" "$(xvt_field "$read" rc)" = 0
    xvt_check "guest read-back md5 = pattern md5 ($pmd5)" -n "$pmd5" -a "$(xvt_field "$read" md5)" = "$pmd5"
    local sw sr
    sw=$(xvt_marker SCATTER-WRITE)
    sr=$(xvt_marker SCATTER-READ)
    xvt_check "guest O_DIRECT write from a scattered buffer succeeded (rc=$(xvt_field "$sw" rc))" \
        "$(xvt_field "$sw" rc)" = 0
    xvt_check "guest O_DIRECT read into a scattered buffer: md5 = pattern md5 (rc=$(xvt_field "$sr" rc))" \
        -n "$pmd5" -a "$(xvt_field "$sr" rc)" = 0 -a "$(xvt_field "$sr" md5)" = "$pmd5"
    local imd5
    imd5=$(xvt_md5_region "$img" $((XVT_MIB * 1048576)))
    xvt_check "image file: first $XVT_MIB MiB md5 = guest pattern md5 ($imd5)" -n "$pmd5" -a "$imd5" = "$pmd5"

    last=$((XVT_IMAGE_BYTES / 512 - 1))
    for s in "$XVT_SIG_SECTOR" "$last"; do
        text=$(xvt_sector_text "$img" "$s" "xvt-sig-$s")
        xvt_check "image file: signature 'xvt-sig-$s' at sector $s (guest rc=$(xvt_field "$(xvt_marker SIG "sector=$s")" rc), found '$text')" \
            "$text" = "xvt-sig-$s"
    done

    if [ "$test" = mq ]; then
        local before after q b a
        before=$(xvt_marker IRQ-BEFORE)
        after=$(xvt_marker IRQ-AFTER)
        for ((q = 0; q < queues; q++)); do
            b=$(xvt_field "$before" "q$q")
            a=$(xvt_field "$after" "q$q")
            xvt_check "queue $q completed requests during the split I/O (interrupts ${b:-?} -> ${a:-?})" \
                -n "$a" -a -n "$b" -a "${a:-0}" -gt "${b:-0}"
        done
    fi
}

xvt_verify_ro() {
    local img=$1 host_md5=$2 image_md5_before=$3
    local direct buffered read after
    direct=$(xvt_field "$(xvt_marker RO-WRITE mode=direct)" rc)
    buffered=$(xvt_field "$(xvt_marker RO-WRITE mode=buffered)" rc)
    read=$(xvt_marker READ)
    xvt_check "guest O_DIRECT write is refused (dd rc=${direct:-none})" -n "$direct" -a "${direct:-0}" != 0
    xvt_check "guest buffered write is refused (dd rc=${buffered:-none})" -n "$buffered" -a "${buffered:-0}" != 0
    xvt_check "guest O_DIRECT read succeeded (rc=$(xvt_field "$read" rc))" "$(xvt_field "$read" rc)" = 0
    xvt_check "guest read md5 = host-written pattern md5 ($host_md5)" "$(xvt_field "$read" md5)" = "$host_md5"
    local sr
    sr=$(xvt_marker SCATTER-READ)
    xvt_check "guest O_DIRECT read into a scattered buffer: md5 = host-written pattern md5 (rc=$(xvt_field "$sr" rc))" \
        "$(xvt_field "$sr" rc)" = 0 -a "$(xvt_field "$sr" md5)" = "$host_md5"
    after=$(md5sum <"$img" | cut -d' ' -f1)
    xvt_check "image file unchanged by the run (md5 $after)" "$after" = "$image_md5_before"
}

# Prints the verdict; keeps the run directory (and shows its logs) on failure.
xvt_case_end() {
    local name=$1 run=$2 secs
    secs=$(xvt_secs $(($(xvt_us) - XVT_CASE_T0)))
    # shellcheck disable=SC2034  # read by the scripts that source this file
    XVT_LAST_SECS=$secs
    if [ "$XVT_CASE_FAILS" -eq 0 ]; then
        if [ "$XVT_VERBOSE" = 1 ]; then
            echo "--- back-end log:"
            head -n 20 "$run/backend.log" 2>/dev/null | sed 's/^/  /' || true
        fi
        echo "=== case $name: PASS ($secs s)"
        [ "$XVT_KEEP" = 1 ] || rm -rf "$run"
        return 0
    fi
    echo "--- back-end output (last 30 lines of $run/backend.log):"
    tail -n 30 "$run/backend.log" 2>/dev/null || true
    echo "--- QEMU output ($run/qemu.log):"
    tail -n 10 "$run/qemu.log" 2>/dev/null || true
    echo "--- guest console (last 20 lines of $XVT_SERIAL_LOG):"
    tail -n 20 "$XVT_SERIAL_LOG" 2>/dev/null | tr -d '\r' || true
    echo "=== case $name: FAIL, $XVT_CASE_FAILS check(s) failed ($secs s); files kept in $run"
    return 1
}

# shellcheck source=kill-restart.sh
. "$(dirname "${BASH_SOURCE[0]}")/kill-restart.sh"
# shellcheck source=resize.sh
. "$(dirname "${BASH_SOURCE[0]}")/resize.sh"
# shellcheck source=iommu.sh
. "$(dirname "${BASH_SOURCE[0]}")/iommu.sh"
