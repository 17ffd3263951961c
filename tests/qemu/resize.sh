# shellcheck shell=bash
# shellcheck disable=SC2034  # the harness globals set here are read by lib.sh
# The resize case, sourced by lib.sh. The guest (guest-init.sh, xvt.test=rz)
# says RESIZE-READY; the host then grows the image file and sends the worker
# SIGHUP. The worker re-reads the image size and announces the new capacity
# to QEMU with CONFIG_CHANGE_MSG on the back-end channel; QEMU reads the new
# config and raises a config interrupt; Linux prints "capacity change" and
# /sys/block/vda/size changes. The guest then writes and reads at the new end
# of the disk, and the host finds that data in the image file.
#
# Environment:
#   RZ_GROW_BYTES   bytes the image grows by (default 64 MiB + 9 sectors, so
#                   the new size is no whole number of pages either)

RZ_GROW_BYTES=${RZ_GROW_BYTES:-$((64 * 1048576 + 9 * 512))}

XVT_RZ_IMG=
XVT_RZ_DONE=0
XVT_RZ_HUP_US=0
XVT_RZ_SEEN_US=0

# xvt_follow hook: grows the image and sends SIGHUP once the guest is ready,
# then notes when the guest reports the new size.
xvt_rz_hook() {
    if [ "$XVT_RZ_DONE" = 1 ]; then
        if [ "$XVT_RZ_SEEN_US" = 0 ] && [ -n "${XVT_LAST_OF[RESIZED]:-}" ]; then XVT_RZ_SEEN_US=$(xvt_us); fi
        return 0
    fi
    [ -n "${XVT_LAST_OF[RESIZE-READY]:-}" ] || return 0
    XVT_RZ_DONE=1
    truncate -s "$((XVT_IMAGE_BYTES + RZ_GROW_BYTES))" "$XVT_RZ_IMG"
    XVT_RZ_HUP_US=$(xvt_us)
    kill -HUP "$XVT_BACKEND_PID"
    xvt_say "host   image grown to $((XVT_IMAGE_BYTES + RZ_GROW_BYTES)) bytes; SIGHUP to worker pid $XVT_BACKEND_PID"
}

# Runs the case NAME. Returns 0 when every check passed.
xvt_resize_case() {
    local name=$1 desc=$2
    local run img sock backend_status=0
    if ! [[ $RZ_GROW_BYTES =~ ^[1-9][0-9]*$ ]] || [ $((RZ_GROW_BYTES % 512)) -ne 0 ]; then
        xvt_die "RZ_GROW_BYTES must be a positive multiple of 512, not '$RZ_GROW_BYTES'"
    fi
    XVT_CASE_FAILS=0
    XVT_CASE_T0=$(xvt_us)
    echo "=== case $name: $desc (back-end: $BACKEND)"

    run=$(mktemp -d "$BUILD/qemu/run-$name.XXXXXX")
    img=$run/disk.img
    sock=$run/vhost-blk.sock
    XVT_SERIAL_LOG=$run/serial-1.log
    XVT_MARKERS=$run/markers-1
    XVT_RZ_IMG=$img
    XVT_RZ_DONE=0
    XVT_RZ_HUP_US=0
    XVT_RZ_SEEN_US=0

    truncate -s "$XVT_IMAGE_BYTES" "$img"
    xvt_say "host   image $XVT_IMAGE_BYTES bytes, zeroed"
    xvt_backend_cmd "$sock" "$img" 1 rw
    if ! xvt_start_backend "$sock" "$run/backend.log"; then
        xvt_fail "worker listening on $sock within 10 s"
        xvt_case_end "$name" "$run"
        return 1
    fi
    xvt_say "host   worker listening (pid $XVT_BACKEND_PID)"

    XVT_FOLLOW_HOOK=xvt_rz_hook
    xvt_boot "$run" "$sock" rz 1
    XVT_FOLLOW_HOOK=''

    xvt_rz_verify "$img" "$run/backend.log"

    if kill -0 "$XVT_BACKEND_PID" 2>/dev/null; then
        xvt_stop_pid "$XVT_BACKEND_PID"
        wait "$XVT_BACKEND_PID" || backend_status=$?
        xvt_say "host   worker stopped by SIGTERM (status $backend_status)"
        xvt_check "worker exits 0 on SIGTERM (status $backend_status)" "$backend_status" -eq 0
    else
        wait "$XVT_BACKEND_PID" || backend_status=$?
        xvt_fail "worker still running after the guest (it exited with status $backend_status)"
    fi
    XVT_BACKEND_PID=
    xvt_case_end "$name" "$run"
}

# The checks of the finished run, and its figures.
xvt_rz_verify() {
    local img=$1 log=$2
    local new_bytes=$((XVT_IMAGE_BYTES + RZ_GROW_BYTES))
    local done_at abort disk resized write read sig sigread off text imd5 s
    done_at=$(xvt_uptime DONE)
    abort=$(xvt_marker ABORT)
    if [ -n "$done_at" ]; then
        xvt_pass "guest completed its steps (DONE at T+${done_at}s)"
    else
        xvt_fail "guest completed its steps${abort:+ (ABORT $abort)}"
    fi
    disk=$(xvt_marker DISK)
    xvt_check "disk size seen by the guest at first = image size ($(xvt_field "$disk" bytes) vs $XVT_IMAGE_BYTES bytes)" \
        "$(xvt_field "$disk" bytes)" = "$XVT_IMAGE_BYTES"
    xvt_check "the host grew the image when the guest was ready" "$XVT_RZ_DONE" = 1

    resized=$(xvt_marker RESIZED)
    xvt_check "/sys/block/vda/size changed to the grown size ($(xvt_field "$resized" sectors) sectors vs $((new_bytes / 512)))" \
        "$(xvt_field "$resized" sectors)" = "$((new_bytes / 512))"
    xvt_check "the guest kernel printed 'capacity change' ($(xvt_field "$resized" capacity_change_lines) line(s))" \
        "$(xvt_field "$resized" capacity_change_lines)" -ge 1 2>/dev/null
    xvt_check "the worker logged the new capacity" \
        "$(grep -c "capacity $((XVT_IMAGE_BYTES / 512)) -> $((new_bytes / 512)) sectors" "$log")" -ge 1

    write=$(xvt_marker END-WRITE)
    read=$(xvt_marker END-READ)
    off=$(xvt_field "$write" offset)
    xvt_check "guest O_DIRECT write of 1 MiB ending at the new end succeeded (rc=$(xvt_field "$write" rc), offset $off)" \
        "$(xvt_field "$write" rc)" = 0
    xvt_check "guest O_DIRECT read-back of it matches (rc=$(xvt_field "$read" rc))" \
        "$(xvt_field "$read" rc)" = 0 -a -n "$(xvt_field "$write" md5)" -a "$(xvt_field "$read" md5)" = "$(xvt_field "$write" md5)"
    if [ -n "$off" ]; then
        imd5=$(dd if="$img" bs=4096 skip=$((off / 4096)) count=256 status=none | md5sum | cut -d' ' -f1)
    else
        imd5=none
    fi
    xvt_check "image file: that 1 MiB holds the guest's data (md5 $imd5)" "$imd5" = "$(xvt_field "$write" md5)"
    s=$((new_bytes / 512 - 1))
    sig=$(xvt_marker SIG "sector=$s")
    sigread=$(xvt_marker SIG-READ "sector=$s")
    text=$(xvt_sector_text "$img" "$s" "xvt-sig-$s")
    xvt_check "image file: signature 'xvt-sig-$s' in the new last sector (guest rc=$(xvt_field "$sig" rc), found '$text')" \
        "$text" = "xvt-sig-$s"
    xvt_check "guest O_DIRECT read of the new last sector returns the signature ('$(xvt_field "$sigread" text)')" \
        "$(xvt_field "$sigread" text)" = "xvt-sig-$s"
    xvt_check "image file size is still the grown size ($(stat -c %s "$img"))" "$(stat -c %s "$img")" = "$new_bytes"

    # The host polls the serial log every 0.2 s, the guest the size every 0.1 s.
    if [ "$XVT_RZ_SEEN_US" -gt 0 ]; then
        printf '  figures  SIGHUP to the guest reporting the new size: %s s (host clock, within 0.3 s)\n' \
            "$(xvt_secs $((XVT_RZ_SEEN_US - XVT_RZ_HUP_US)))"
    fi
    if grep -q 'front-end told of the config change' "$log"; then
        echo "  note  worker: QEMU answered CONFIG_CHANGE_MSG in time"
    fi
    if grep -q 'config changed but the front-end was not told' "$log"; then
        echo "  note  worker: $(grep 'config changed but the front-end was not told' "$log" | head -n 1 | sed 's/^[^:]*: //')"
    fi
}
