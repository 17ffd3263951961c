#!/bin/bash
# xenvhostd answers libxl for real: with the daemon running in dom0, `xl
# create` of a PV guest with a standalone virtio disk succeeds (the daemon
# wrote state 2 within libxl's 10 s), the backend directory carries the
# daemon's status keys and a live worker, and `xl destroy` finishes without
# libxl's 10 s wait (state 5 answered with 6), leaving no worker behind. The
# same again through xenvhost-create and xenvhost-status when they are
# installed. Times every step from a background xenstore watch.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
: "${DOMU_ID:?DOMU_ID must name the running guest}"

name=vdisk-xenvhostd
img=/root/disk.img
devid=51712  # xvda: (202 << 8) | (0 << 4) | 0
be_root=/local/domain/0/backend/virtio_disk
libxl_wait=10  # LIBXL_INIT_TIMEOUT and LIBXL_DESTROY_TIMEOUT
work=$(mktemp -d /tmp/xl-create.XXXXXX)
run_dir=$work/run
daemon_pid=
daemon_log_pid=
watch_pid=
watch_log_pid=

# Exited means a zombie until reaped.
daemon_gone() { [ "$(cut -d' ' -f3 "/proc/$daemon_pid/stat" 2>/dev/null || echo Z)" = Z ]; }

cleanup() {
    local rc=$1 pid
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 daemon_gone || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$watch_pid" ] && kill -0 "$watch_pid" 2>/dev/null; then kill "$watch_pid" || true; fi
    for pid in "$daemon_log_pid" "$watch_log_pid"; do
        if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
    done
    if [ "$rc" -ne 0 ]; then
        if [ -s "$work/daemon.log" ]; then sed 's/^/  xenvhostd: /' "$work/daemon.log"; fi
        if [ -s "$work/events" ]; then sed 's/^/  watch: /' "$work/events"; fi
    fi
    rm -rf "$work" "$img"
}
trap 'cleanup $?' EXIT

# Copies stdin to stdout, each line prefixed with dom0's uptime when it was
# read. Builtins only: a process start would delay the timestamps.
stamp_lines() {
    local line up _
    while IFS= read -r line; do
        read -r up _ </proc/uptime
        printf '%s %s\n' "$up" "$line"
    done
}

# Time of the first watch event on PATH at or after uptime AFTER (empty if none).
event_at() { awk -v p="$1" -v t="$2" '$2 == p && $1 >= t { print $1; exit }' "$work/events"; }
# Times of every watch event on PATH at or after uptime AFTER, one per line.
events_at() { awk -v p="$1" -v t="$2" '$2 == p && $1 >= t { print $1 }' "$work/events"; }
# Time of the first daemon log line matching the extended regexp RE at or after AFTER.
daemon_line_at() {
    awk -v t="$2" '$1 >= t { print }' "$work/daemon.log" | grep -E -m 1 "$1" | cut -d' ' -f1 || true
}

for prog in xenvhostd xenvhost-worker; do
    command -v "$prog" >/dev/null || die "$prog is not installed in dom0"
done

# ------------------------------------------------------------- daemon, watch
mkfifo "$work/daemon.fifo" "$work/watch.fifo"
stamp_lines <"$work/watch.fifo" >"$work/events" &
watch_log_pid=$!
xenstore-watch "$be_root" >"$work/watch.fifo" 2>&1 &
watch_pid=$!
stamp_lines <"$work/daemon.fifo" >"$work/daemon.log" &
daemon_log_pid=$!
t_daemon=$(uptime_s)
xenvhostd --run-dir "$run_dir" --log-level debug >"$work/daemon.fifo" 2>&1 &
daemon_pid=$!
serving() { grep -q 'serving virtio devices' "$work/daemon.log" || daemon_gone; }
wait_until 30 serving || die "xenvhostd did not start within 30 s"
if daemon_gone; then die "xenvhostd exited at start"; fi
echo "xenvhostd pid $daemon_pid serving after $(since "$t_daemon") s (run dir $run_dir)"

truncate -s 64M "$img"
cfg=$work/$name.cfg
cat >"$cfg" <<CFG
name = "$name"
type = "pv"
memory = 128
vcpus = 1
kernel = "/root/vmlinux"
ramdisk = "/root/domU.cpio.gz"
extra = "console=hvc0 rdinit=/init quiet"
disk = [ 'backendtype=standalone,specification=virtio,vdev=xvda,target=$img' ]
CFG

# Checks the backend directory of guest DOMID as xenvhostd serves it; sets
# worker_pid. Prints the listing.
check_served() {
    local domid=$1 dir=$be_root/$1/$devid listing cmdline
    listing=$(xenstore-ls -fp "$dir")
    echo "$listing"
    expect_listed "$listing" "$dir/state" 2
    expect_listed "$listing" "$dir/online" 1
    expect_listed "$listing" "$dir/vhost-user-socket" "$run_dir/dom$domid/virtio_disk-$devid.sock"
    expect_listed "$listing" "$dir/xenvhost-connected" 0
    expect_listed "$listing" "$dir/xenvhost-mapping" none
    expect_listed "$listing" "$dir/xenvhost-restarts" 0
    if grep -q "^$dir/xenvhost-error " <<<"$listing"; then die "the daemon reports an error for a served disk"; fi
    worker_pid=$(sed -n "s|^$dir/xenvhost-worker-pid = \"\\([0-9]*\\)\".*|\\1|p" <<<"$listing")
    [ -n "$worker_pid" ] || die "no xenvhost-worker-pid in $dir"
    kill -0 "$worker_pid" 2>/dev/null || die "worker pid $worker_pid is not running"
    cmdline=$(tr '\0' ' ' <"/proc/$worker_pid/cmdline")
    case $cmdline in
        *xenvhost-worker*"--domid $domid "*) ;;
        *) die "pid $worker_pid is not a worker for dom$domid: $cmdline" ;;
    esac
    [ -S "$run_dir/dom$domid/virtio_disk-$devid.sock" ] || die "the worker's socket is not there"
    echo "worker pid $worker_pid: $cmdline"
}

# Reports the time from T0 (command started) to the backend directory and to
# state 2 of guest DOMID, from the watch; LABEL names the command.
report_ready() {
    local label=$1 domid=$2 t0=$3 dir=$be_root/$2/$devid t_dir t_ready
    t_dir=$(event_at "$dir/frontend" "$t0")
    # One transaction writes the status keys with state 2: the socket key's
    # event is the moment libxl could read 2.
    t_ready=$(event_at "$dir/vhost-user-socket" "$t0")
    if [ -z "$t_dir" ] || [ -z "$t_ready" ]; then die "the watch saw no backend directory or no state 2 for dom$domid"; fi
    echo "FIGURES $label: backend directory written $(since "$t0" "$t_dir") s after start," \
        "state 2 $(since "$t_dir" "$t_ready") s later ($(since "$t0" "$t_ready") s after start)"
    at_least "$libxl_wait" "$(since "$t_dir" "$t_ready")" || die "state 2 came after libxl's $libxl_wait s"
}

# xl destroy of guest DOMID (worker WORKER) and everything that must follow.
destroy_and_check() {
    local label=$1 domid=$2 worker=$3 dir=$be_root/$2/$devid t0 t1 rc=0 t_closing t_closed t_gone
    local key="dom$2 virtio_disk/$devid" states=()
    t0=$(uptime_s)
    xl destroy "$name" >"$work/destroy.log" 2>&1 || rc=$?
    t1=$(uptime_s)
    sed 's/^/  xl destroy: /' "$work/destroy.log"
    [ "$rc" -eq 0 ] || die "xl destroy exited with $rc"
    worker_gone() { ! kill -0 "$worker"; }
    wait_until 15 worker_gone || die "worker pid $worker is still running 15 s after xl destroy"
    t_gone=$(uptime_s)
    # libxl writes online=0 and state=5 in one transaction; the next state
    # event is the daemon's 6.
    t_closing=$(event_at "$dir/online" "$t0")
    # Here-string, not process substitution: dom0 has no /dev/fd.
    read -r -d '' -a states <<<"$(events_at "$dir/state" "$t0")" || true
    [ -n "$t_closing" ] || die "the watch saw no online=0 from libxl"
    [ "${#states[@]}" -ge 2 ] || die "the watch saw ${#states[@]} state write(s) after xl destroy, expected 5 then 6"
    t_closed=${states[1]}
    [ -n "$(daemon_line_at "$key: phase [a-z]+, state 5, online 0" "$t0")" ] || die "xenvhostd did not see state 5"
    [ -n "$(daemon_line_at "$key: closed \\(state 6\\)" "$t0")" ] || die "xenvhostd did not write state 6"
    echo "FIGURES $label: xl destroy took $(since "$t0" "$t1") s; state 5 at +$(since "$t0" "$t_closing") s," \
        "answered with 6 after $(since "$t_closing" "$t_closed") s; worker gone after $(since "$t0" "$t_gone") s"
    at_least "$libxl_wait" "$(since "$t0" "$t1")" || die "xl destroy took libxl's $libxl_wait s wait"
    if xl domid "$name" >/dev/null 2>&1; then die "domain $name is still there"; fi
    if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
    if xenstore-exists "$be_root/$domid"; then die "$be_root/$domid is still there"; fi
    if [ -e "$run_dir/dom$domid" ]; then die "the daemon left $run_dir/dom$domid behind"; fi
    if pidof xenvhost-worker >/dev/null; then die "a worker is still running: pid $(pidof xenvhost-worker)"; fi
    echo "$label: no domain, backend directory, run directory or worker left"
}

# ------------------------------------------------------------- xl create
t0=$(uptime_s)
rc=0
xl create "$cfg" >"$work/xl.log" 2>&1 || rc=$?
t_created=$(uptime_s)
sed 's/^/  xl create: /' "$work/xl.log"
[ "$rc" -eq 0 ] || die "xl create exited with $rc although xenvhostd runs"
domid=$(xl domid "$name") || die "xl create succeeded but there is no domain $name"
echo "xl create returned 0 after $(since "$t0" "$t_created") s; guest domid $domid"
report_ready "xl create" "$domid" "$t0"
check_served "$domid"
destroy_and_check "xl destroy" "$domid" "$worker_pid"

# ------------------------------------------------------------- xl-scripts
if command -v xenvhost-create >/dev/null && command -v xenvhost-status >/dev/null; then
    t0=$(uptime_s)
    rc=0
    xenvhost-create "$cfg" >"$work/create.log" 2>&1 || rc=$?
    t_created=$(uptime_s)
    sed 's/^/  xenvhost-create: /' "$work/create.log"
    [ "$rc" -eq 0 ] || die "xenvhost-create exited with $rc"
    domid=$(xl domid "$name") || die "xenvhost-create succeeded but there is no domain $name"
    echo "xenvhost-create returned 0 after $(since "$t0" "$t_created") s; guest domid $domid"
    report_ready "xenvhost-create" "$domid" "$t0"
    state=$(xl list "$name" | awk 'NR == 2 { print $5 }')
    case $state in *p*) die "xenvhost-create left $name paused ($state)" ;; esac
    check_served "$domid"
    xenvhost-status "$domid" >"$work/status.log" 2>&1 || die "xenvhost-status failed: $(cat "$work/status.log")"
    sed 's/^/  xenvhost-status: /' "$work/status.log"
    grep -q "$run_dir/dom$domid/virtio_disk-$devid.sock" "$work/status.log" ||
        die "xenvhost-status does not show the device's socket"
    grep -q InitWait "$work/status.log" || die "xenvhost-status does not show state 2 (InitWait)"
    destroy_and_check "xl destroy after xenvhost-create" "$domid" "$worker_pid"
else
    echo "xenvhost-create or xenvhost-status is not installed in dom0: skipped"
fi

# ------------------------------------------------------------- daemon stop
kill -TERM "$daemon_pid"
rc=0
wait "$daemon_pid" || rc=$?
daemon_pid=
[ "$rc" -eq 0 ] || die "xenvhostd exited with $rc on SIGTERM"
wait "$daemon_log_pid" || true
daemon_log_pid=
echo "xenvhostd exited 0 on SIGTERM; its log:"
sed 's/^/  xenvhostd: /' "$work/daemon.log"
[ "$(xl domid domU)" = "$DOMU_ID" ] || die "the first guest (domid $DOMU_ID) is gone"
