# shellcheck shell=bash
# shellcheck disable=SC2034  # the harness globals set here are read by lib.sh
# The kill-restart case, sourced by lib.sh. The guest (guest-init.sh,
# xvt.test=kr) writes 1 MiB blocks with O_DIRECT and reads every pass back,
# while the host kills the worker with SIGKILL during the write phases and
# starts a fresh one on the same socket and image each time. QEMU reconnects
# (chardev reconnect=1) and gives the new worker the inflight area it kept, so
# the new worker resubmits what the killed one had in flight. The guest must
# see no error and every block right; the image must hold the last pass.
#
# Odd kills fall at a random moment, which under TCG mostly finds the worker
# idle (the guest is far slower than the worker); even kills are made by
# xvt-inflight-kill (inflight_kill.cpp) at a moment when the worker's inflight
# area shows a request in flight, so that resubmission is exercised every run.
#
# Environment:
#   KR_KILLS     kills during the run (default 6)
#   KR_MIN_KILLS kills that must land in write phases for the case to pass (default 4)
#   KR_PASSES    write + read-back passes (default 8: room for 6 kills that each wait for a reconnect)
#   KR_MIB       MiB written per pass, one 1 MiB block at a time (default 64)
#   KR_TIMEOUT   seconds the QEMU run may take (default 600)
#   KR_STREAMS   guest writers at once, each on its share of the blocks (default 2)
#   KR_CACHE     the worker's --cache: writeback (default) or none
#   INFLIGHT_KILL  the xvt-inflight-kill program (default $BUILD/bin/xvt-inflight-kill)

KR_KILLS=${KR_KILLS:-6}
KR_PASSES=${KR_PASSES:-8}
KR_MIN_KILLS=${KR_MIN_KILLS:-4}
KR_MIB=${KR_MIB:-64}
KR_TIMEOUT=${KR_TIMEOUT:-600}
KR_CACHE=${KR_CACHE:-writeback}
KR_STREAMS=${KR_STREAMS:-2}
INFLIGHT_KILL=${INFLIGHT_KILL:-$BUILD/bin/xvt-inflight-kill}

XVT_KR_KILLED=0           # kills done so far
XVT_KR_DUE_US=            # when the next kill falls (host clock, microseconds)
XVT_KR_IN_WRITE=0         # 1 while the guest is in a write phase
XVT_KR_PHASE_T0=0         # when that write phase began
XVT_KR_WRITE_US=3000000   # how long a write phase lasts: the last one seen
XVT_KR_RESTART_MAX_US=0
XVT_KR_RUN=
XVT_KR_SOCK=
XVT_KR_HOW=()             # per kill: how it was made
XVT_KR_SEEN=()            # per in-flight kill: requests seen in flight

xvt_kr_check_settings() {
    local v
    for v in KR_KILLS KR_MIN_KILLS KR_PASSES KR_MIB KR_STREAMS KR_TIMEOUT; do
        [[ ${!v} =~ ^[1-9][0-9]*$ ]] || xvt_die "$v must be a positive integer, not '${!v}'"
    done
    [ $((KR_MIB * 1048576)) -le "$XVT_IMAGE_BYTES" ] ||
        xvt_die "KR_MIB=$KR_MIB does not fit the $XVT_IMAGE_BYTES-byte image"
    [ "$KR_STREAMS" -le "$KR_MIB" ] || xvt_die "KR_STREAMS=$KR_STREAMS is more than KR_MIB=$KR_MIB blocks"
    case $KR_CACHE in
        writeback | none) ;;
        *) xvt_die "KR_CACHE must be writeback or none, not '$KR_CACHE'" ;;
    esac
    [ -x "$INFLIGHT_KILL" ] || xvt_die "no $INFLIGHT_KILL (run: make $INFLIGHT_KILL)"
}

# Milliseconds as seconds with three decimals.
xvt_kr_ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

# The pass in whose write phase kill N (from 1) is planned: spread evenly
# over all passes but the last, which takes the kills that did not fit in
# their phase (a kill that misses its phase moves to the next one).
xvt_kr_pass_of() {
    if [ "$KR_PASSES" -gt 1 ]; then echo $((($1 - 1) * (KR_PASSES - 1) / KR_KILLS)); else echo 0; fi
}

# A random number of microseconds below $1 (at least 1).
xvt_kr_random_us() { echo $(((RANDOM * 32768 + RANDOM) % ($1 > 0 ? $1 : 1))); }

# Kills worker PID (kill number N): odd N at once, even N once a request is in
# flight (xvt-inflight-kill waits up to 2 s for one). Records how in XVT_KR_HOW.
xvt_kr_kill() {
    local pid=$1 n=$2 out
    if [ $((n % 2)) -eq 1 ]; then
        kill -KILL "$pid" 2>/dev/null || true
        XVT_KR_HOW[n]="at a random moment"
        return 0
    fi
    if ! out=$("$INFLIGHT_KILL" "$pid" 2000 2>&1); then
        kill -KILL "$pid" 2>/dev/null || true
        xvt_fail "xvt-inflight-kill found the worker's inflight area: $out"
        XVT_KR_HOW[n]="at once (xvt-inflight-kill failed)"
        return 0
    fi
    XVT_KR_SEEN[n]=$(xvt_field "$out" inflight)
    XVT_KR_HOW[n]="with ${XVT_KR_SEEN[n]} request(s) seen in flight after waiting $(xvt_field "$out" waited_ms) ms ($(xvt_field "$out" after) marked in flight when it died, area used_idx $(xvt_field "$out" used_idx))"
}

# xvt_follow hook: kills the worker at a random moment of a guest write phase
# (xvt_kr_kill) and starts a fresh worker at once. A kill waits until QEMU has
# connected to the worker it kills. Fails (which stops the run) if the fresh
# worker does not listen.
xvt_kr_hook() {
    local marker phase pass now left k window pid status t0 us
    [ "$XVT_KR_KILLED" -lt "$KR_KILLS" ] || return 0
    # Once the guest has finished its I/O a kill would prove nothing.
    [ -z "${XVT_LAST_OF[KR-END]:-}" ] || return 0
    marker=${XVT_LAST_OF[KR-PHASE]:-}
    phase=$(xvt_field "$marker" phase)
    pass=$(xvt_field "$marker" pass)
    now=$(xvt_us)
    if [ "$phase" != write ]; then
        if [ "$XVT_KR_IN_WRITE" = 1 ]; then
            # A write phase ended: its length sizes the next one's kill
            # windows; a kill planned but not done moves to the next phase.
            XVT_KR_IN_WRITE=0
            XVT_KR_WRITE_US=$((now - XVT_KR_PHASE_T0))
            XVT_KR_DUE_US=
        fi
        return 0
    fi
    if [ "$XVT_KR_IN_WRITE" = 0 ]; then
        XVT_KR_IN_WRITE=1
        XVT_KR_PHASE_T0=$now
    fi
    if [ -z "$XVT_KR_DUE_US" ]; then
        left=0
        for ((k = XVT_KR_KILLED + 1; k <= KR_KILLS; k++)); do
            [ "$(xvt_kr_pass_of "$k")" -gt "$pass" ] || left=$((left + 1))
        done
        [ "$left" -gt 0 ] || return 0
        # Only a worker that QEMU is connected to (the log says so once per worker).
        [ "$(grep -c 'front-end connected' "$XVT_KR_RUN/backend.log")" -gt "$XVT_KR_KILLED" ] || return 0
        # Somewhere in the first 70 % of what should remain of the phase,
        # shared among the kills still due in it.
        window=$(((XVT_KR_PHASE_T0 + XVT_KR_WRITE_US - now) * 7 / 10 / left))
        [ "$window" -ge 200000 ] || window=200000
        XVT_KR_DUE_US=$((now + $(xvt_kr_random_us "$window")))
        return 0
    fi
    [ "$now" -ge "$XVT_KR_DUE_US" ] || return 0
    XVT_KR_DUE_US=

    pid=$XVT_BACKEND_PID
    XVT_KR_KILLED=$((XVT_KR_KILLED + 1))
    status=0
    # Quietly: bash would report the death of its job on stderr.
    {
        xvt_kr_kill "$pid" "$XVT_KR_KILLED"
        wait "$pid" || status=$?
    } 2>/dev/null
    XVT_BACKEND_PID=
    xvt_say "host   kill $XVT_KR_KILLED of $KR_KILLS: SIGKILL to worker pid $pid ${XVT_KR_HOW[XVT_KR_KILLED]} (guest pass $pass writing, $(xvt_kr_ms $(((now - XVT_KR_PHASE_T0) / 1000))) s into the phase)"
    # 137 = killed by SIGKILL: anything else means it had died by itself before.
    if [ "$status" -ne 137 ]; then
        xvt_fail "worker pid $pid was alive until kill $XVT_KR_KILLED (it exited with status $status)"
    fi
    echo "--- harness: SIGKILL $XVT_KR_KILLED to pid $pid; a fresh worker follows" >>"$XVT_KR_RUN/backend.log"
    t0=$(xvt_us)
    if ! xvt_start_backend "$XVT_KR_SOCK" "$XVT_KR_RUN/backend.log"; then
        xvt_fail "fresh worker listening on $XVT_KR_SOCK within 10 s of kill $XVT_KR_KILLED"
        return 1
    fi
    us=$(($(xvt_us) - t0))
    [ "$us" -le "$XVT_KR_RESTART_MAX_US" ] || XVT_KR_RESTART_MAX_US=$us
    xvt_say "host   fresh worker pid $XVT_BACKEND_PID listening $(xvt_kr_ms $((us / 1000))) s later"
}

# Runs the case NAME. Returns 0 when every check passed.
xvt_kill_restart_case() {
    local name=$1 desc=$2
    local run img sock backend_status=0
    xvt_kr_check_settings
    XVT_CASE_FAILS=0
    XVT_CASE_T0=$(xvt_us)
    echo "=== case $name: $desc (back-end: $BACKEND)"
    echo "  worker --cache $KR_CACHE; $KR_KILLS kills over $KR_PASSES passes of $KR_MIB MiB ($((KR_PASSES * KR_MIB)) MiB written by $KR_STREAMS writers and read back, in 1 MiB blocks)"

    run=$(mktemp -d "$BUILD/qemu/run-$name.XXXXXX")
    img=$run/disk.img
    sock=$run/vhost-blk.sock
    XVT_SERIAL_LOG=$run/serial-1.log
    XVT_MARKERS=$run/markers-1
    XVT_KR_RUN=$run
    XVT_KR_SOCK=$sock
    XVT_KR_KILLED=0
    XVT_KR_DUE_US=
    XVT_KR_IN_WRITE=0
    XVT_KR_WRITE_US=3000000
    XVT_KR_RESTART_MAX_US=0
    XVT_KR_HOW=()
    XVT_KR_SEEN=()

    truncate -s "$XVT_IMAGE_BYTES" "$img"
    xvt_say "host   image $XVT_IMAGE_BYTES bytes, zeroed"
    xvt_backend_cmd "$sock" "$img" 1 rw
    XVT_BACKEND_CMD+=(--cache "$KR_CACHE")
    if [ "$XVT_VERBOSE" = 1 ]; then
        # shellcheck disable=SC2153  # set by xvt_backend_cmd in lib.sh
        xvt_say "host   start worker: $(xvt_cmdline "${XVT_BACKEND_CMD[@]}")"
    fi
    if ! xvt_start_backend "$sock" "$run/backend.log"; then
        xvt_fail "worker listening on $sock within 10 s"
        xvt_case_end "$name" "$run"
        return 1
    fi
    xvt_say "host   worker listening (pid $XVT_BACKEND_PID)"

    XVT_FOLLOW_HOOK=xvt_kr_hook
    XVT_CHARDEV_OPTS=,reconnect=1
    XVT_GUEST_ARGS="xvt.mib=$KR_MIB xvt.passes=$KR_PASSES xvt.streams=$KR_STREAMS"
    XVT_RUN_TIMEOUT=$KR_TIMEOUT
    xvt_boot "$run" "$sock" kr 1
    XVT_FOLLOW_HOOK='' XVT_CHARDEV_OPTS='' XVT_GUEST_ARGS='' XVT_RUN_TIMEOUT=''

    xvt_kr_verify "$img" "$run/backend.log"

    if [ -n "$XVT_BACKEND_PID" ]; then
        xvt_stop_pid "$XVT_BACKEND_PID"
        wait "$XVT_BACKEND_PID" || backend_status=$?
        XVT_BACKEND_PID=
        xvt_say "host   last worker stopped by SIGTERM (status $backend_status)"
        xvt_check "last worker exits 0 on SIGTERM (status $backend_status)" "$backend_status" -eq 0
    fi
    xvt_case_end "$name" "$run"
}

# The checks of the finished run, and its figures.
xvt_kr_verify() {
    local img=$1 log=$2
    local done_at abort end p v fails=0 verified=0 final imd5 zmd5 tail_bytes
    done_at=$(xvt_uptime DONE)
    abort=$(xvt_marker ABORT)
    if [ -n "$done_at" ]; then
        xvt_pass "guest completed its steps (DONE at T+${done_at}s)"
    else
        xvt_fail "guest completed its steps${abort:+ (ABORT $abort)}"
    fi
    xvt_check "guest saw the disk ($(xvt_field "$(xvt_marker DISK)" bytes) bytes)" \
        "$(xvt_field "$(xvt_marker DISK)" bytes)" = "$XVT_IMAGE_BYTES"
    # A kill waits for QEMU's reconnect (about 1 s), so on a fast host the
    # last planned kill can find no write phase left; several must land.
    xvt_check "at least $KR_MIN_KILLS of $KR_KILLS planned kills fell in guest write phases (done: $XVT_KR_KILLED)" \
        "$XVT_KR_KILLED" -ge "$KR_MIN_KILLS"

    for ((p = 0; p < KR_PASSES; p++)); do
        v=$(xvt_marker KR-VERIFY "pass=$p")
        if [ -n "$v" ] && [ "$(xvt_field "$v" bad)" = 0 ]; then
            verified=$((verified + 1))
        else
            fails=$((fails + 1))
        fi
    done
    xvt_check "every block of every pass read back with O_DIRECT has the md5 written ($verified of $KR_PASSES passes)" "$fails" -eq 0

    end=$(xvt_marker KR-END)
    xvt_check "guest KR-END reported" -n "$end"
    xvt_check "no failed block write in the guest (dd rc != 0: $(xvt_field "$end" write_errors))" \
        "$(xvt_field "$end" write_errors)" = 0
    xvt_check "no failed read-back in the guest ($(xvt_field "$end" read_errors))" \
        "$(xvt_field "$end" read_errors)" = 0
    xvt_check "no wrong block in the read-backs ($(xvt_field "$end" bad_blocks))" \
        "$(xvt_field "$end" bad_blocks)" = 0
    xvt_check "no 'I/O error' in the guest kernel log ($(xvt_field "$end" io_errors))" \
        "$(xvt_field "$end" io_errors)" = 0

    # The guest sends the md5 of its list of expected block md5s.
    final=$(xvt_field "$end" block_md5s_md5)
    imd5=$(for ((p = 0; p < KR_MIB; p++)); do
        dd if="$img" bs=1M skip="$p" count=1 status=none | md5sum | cut -d' ' -f1
    done | md5sum | cut -d' ' -f1)
    xvt_check "image file: the $KR_MIB blocks hold the guest's last pass (md5 of block md5s $imd5)" \
        -n "$final" -a "$imd5" = "$final"
    tail_bytes=$((XVT_IMAGE_BYTES - KR_MIB * 1048576))
    imd5=$(tail -c "$tail_bytes" "$img" | md5sum | cut -d' ' -f1)
    zmd5=$(head -c "$tail_bytes" /dev/zero | md5sum | cut -d' ' -f1)
    xvt_check "image file: the $tail_bytes bytes past the blocks are still zero" "$imd5" = "$zmd5"

    # Requests resubmitted by each worker: the first is worker 1, the one
    # started after kill N is worker N+1.
    local -a resub=()
    local gen count requests=0 restarts=0 hits=0 hit_resub=0 k
    while read -r gen count; do
        resub[gen]=$count
    done < <(awk '/^--- harness: SIGKILL/ { g++ }
        /resubmitting [0-9]+ requests in flight/ { for (i = 1; i < NF; i++) if ($i == "resubmitting") r[g + 1] += $(i + 1) }
        END { for (w in r) print w, r[w] }' "$log")
    for ((k = 1; k <= XVT_KR_KILLED; k++)); do
        count=${resub[k + 1]:-0}
        requests=$((requests + count))
        [ "$count" -eq 0 ] || restarts=$((restarts + 1))
        if [ "${XVT_KR_SEEN[k]:-0}" -gt 0 ]; then
            hits=$((hits + 1))
            hit_resub=$((hit_resub + count))
        fi
        echo "  kill $k: ${XVT_KR_HOW[k]}; the fresh worker resubmitted $count request(s)"
    done
    local aimed=$((XVT_KR_KILLED / 2))
    xvt_check "xvt-inflight-kill found requests in flight at $hits of its $aimed kill(s)" "$hits" -gt 0
    xvt_check "the workers started after those kills resubmitted requests ($hit_resub)" "$hit_resub" -gt 0

    local warnings
    warnings=$(grep -c -E ': (warn|error): ' "$log" || true)
    if [ "$warnings" -gt 0 ]; then
        echo "  note  $warnings warning/error line(s) in the worker logs:"
        grep -E ': (warn|error): ' "$log" | sed 's/^[^:]*: //' | sort | uniq -c | sort -rn | head -n 10 |
            sed 's/^/        /'
    fi

    local stall op gaps
    gaps=$(grep -c ' KR-GAP ' "$XVT_MARKERS" || true)
    echo "  figures  kills survived: $XVT_KR_KILLED; block writes completing 0.5 s or more after the previous one: $gaps"
    for op in write read; do
        stall=$(xvt_marker KR-STALL "op=$op")
        printf '  figures  longest guest stall between two block %ss: %s s (pass %s, block %s); mean %s s over %s blocks\n' \
            "$op" "$(xvt_field "$stall" max)" "$(xvt_field "$stall" pass)" "$(xvt_field "$stall" block)" \
            "$(xvt_field "$stall" mean)" "$(xvt_field "$stall" blocks)"
    done
    printf '  figures  %s request(s) resubmitted by %s of %s fresh worker(s); slowest restart to listening %s s; guest I/O %s s for %s MiB written\n' \
        "$requests" "$restarts" "$XVT_KR_KILLED" "$(xvt_kr_ms $((XVT_KR_RESTART_MAX_US / 1000)))" \
        "$(xvt_field "$end" secs)" "$(xvt_field "$end" written_mib)"
}
