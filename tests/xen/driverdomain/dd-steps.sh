# shellcheck shell=bash
# shellcheck disable=SC2317 # the nested functions run through wait_until
# The steps the driver domain runs for scenario 45-driver-domain (sourced by
# its init; each step runs in a subshell, prints its lines and fails with
# `die`). What a later step needs is kept in $STATE.
SHARE=/usr/share/xenvhost-tests/xen
# shellcheck source=../scenarios/lib/common.sh
source "$SHARE/scenarios/lib/common.sh"
# shellcheck source=../scenarios/lib/unit.sh
source "$SHARE/scenarios/lib/unit.sh"

STATE=/run/dd-test
unit=/lib/systemd/system/xenvhostd-driverdomain.service
devid=51712        # xvda: (202 << 8) | (0 << 4) | 0
work=/tmp/dd
mkdir -p "$STATE" "$work"

self_domid() { xenstore-read domid; }
# Exited means a zombie until reaped.
gone() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }
saved() { cat "$STATE/$1" 2>/dev/null || die "no $1 saved by an earlier step"; }

# Starts xenvhostd the way systemd would start the installed
# xenvhostd-driverdomain.service (as scenario 40 does for xenvhostd.service
# in dom0): its conditions, EnvironmentFile, ExecStart, RuntimeDirectory,
# Type=notify with NotifyAccess=main.
step_service() {
    local t0 run_dir env_file daemon_pid notify config i mode
    t0=$(uptime_s)
    [ -f "$unit" ] || die "$unit is not installed"
    [ "$(unit_value Type)" = notify ] || die "the unit is not Type=notify"
    # ConditionVirtualization=xen: a Xen domU (systemd does not count dom0).
    [ "$(unit_value ConditionVirtualization)" = xen ] || die "the unit has no ConditionVirtualization=xen"
    [ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ] || die "ConditionVirtualization=xen is false here"
    if grep -qw control_d /proc/xen/capabilities 2>/dev/null; then die "this is dom0, not a driver domain"; fi
    # Wants/After=proc-xen.mount: xenfs on /proc/xen.
    grep -q ' /proc/xen xenfs ' /proc/mounts || die "xenfs is not mounted on /proc/xen (proc-xen.mount)"
    [ -z "$(unit_value ConditionPathExists)" ] || [ -e "$(unit_value ConditionPathExists)" ] ||
        die "ConditionPathExists=$(unit_value ConditionPathExists) is false here"
    env_file=$(unit_value EnvironmentFile)
    [ -n "$env_file" ] || die "the unit has no EnvironmentFile"
    mkdir -p "$(dirname "${env_file#-}")"
    echo "XENVHOSTD_ARGS=--log-level debug" >"${env_file#-}"
    read_environment_file "$env_file"
    expand_exec_start "$(unit_value ExecStart)"
    [ -x "${exec_argv[0]}" ] || die "ExecStart's program ${exec_argv[0]} is not installed"
    config=
    for ((i = 1; i < ${#exec_argv[@]}; i++)); do
        if [ "${exec_argv[i]}" = --config ]; then config=${exec_argv[i + 1]:-}; fi
    done
    [ -f "$config" ] || die "the configuration '$config' ExecStart names is not installed"
    run_dir=/run/$(unit_value RuntimeDirectory)
    [ "$run_dir" != /run/ ] || die "the unit has no RuntimeDirectory"
    mode=$(unit_value RuntimeDirectoryMode)
    mkdir -p "$(dirname "$run_dir")"
    mkdir -m "${mode:-0755}" "$run_dir"
    echo "unit $unit: ExecStart=$(unit_value ExecStart)"
    echo "  expanded: ${exec_argv[*]}"
    notify=$work/notify.sock
    sd-notify-listener "$notify" >"$work/notify.log" 2>&1 &
    echo $! >"$STATE/listener_pid"
    wait_until 10 grep -q '^LISTENING' "$work/notify.log" || die "sd-notify-listener did not listen"
    local -a env_words=()
    local key
    for key in "${!unit_env[@]}"; do env_words+=("$key=${unit_env[$key]}"); done
    setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$notify" \
        "${env_words[@]}" "${exec_argv[@]}" >"$work/daemon.log" 2>&1 </dev/null &
    daemon_pid=$!
    echo "$daemon_pid" >"$STATE/daemon_pid"
    echo "$run_dir" >"$STATE/run_dir"
    ready() { grep -q "^NOTIFY pid=$daemon_pid .*READY=1" "$work/notify.log" || gone "$daemon_pid"; }
    wait_until 60 ready || die "xenvhostd sent no READY=1 within 60 s"
    if gone "$daemon_pid"; then die "xenvhostd exited before READY=1"; fi
    grep '^NOTIFY' "$work/notify.log" | sed 's/^/  /'
    grep -q 'driver domain' "$work/daemon.log" || die "xenvhostd does not say it serves a driver domain"
    grep 'serving virtio devices' "$work/daemon.log" | sed 's/^/  xenvhostd: /'
    echo "STEP service $(since "$t0") xenvhostd-driverdomain.service started as systemd would, in domain $(self_domid); READY=1 from its main pid $daemon_pid"
}

# An image file in this domain's file system, where the guest's disk
# config's target= points (libxl in dom0 does not look at it).
step_image() {
    rm -f "$1"
    truncate -s "$2" "$1"
    echo "image $1: $(stat -c %s "$1") bytes"
}

# The guest's disk as this domain serves it: status keys, its worker, then
# the data path through the worker's mappings of the guest's grants to
# this domain (xen-grant-frontend plays the guest's driver in those pages).
step_frontend() {
    local domid=$1 refs=$2 img=$3 t0 self dir sock listing worker_pid run_dir rc
    t0=$(uptime_s)
    self=$(self_domid)
    run_dir=$(saved run_dir)
    dir=/local/domain/$self/backend/virtio_disk/$domid/$devid
    sock=$run_dir/dom$domid/virtio_disk-$devid.sock
    listing=$(xenstore-ls -fp "$dir") || die "cannot list $dir"
    printf '%s\n' "$listing" | sed 's/^/  /'
    expect_listed "$listing" "$dir/state" 2
    expect_listed "$listing" "$dir/online" 1
    expect_listed "$listing" "$dir/params" "$img"
    expect_listed "$listing" "$dir/vhost-user-socket" "$sock"
    expect_listed "$listing" "$dir/xenvhost-connected" 0
    expect_listed "$listing" "$dir/xenvhost-mapping" none
    if grep -q "^$dir/xenvhost-error " <<<"$listing"; then die "the daemon reports an error for the guest's disk"; fi
    # The guest's type is in /libxl, which a driver domain cannot read, and
    # this domain's kernel restricts privcmd to its xenstore target (none:
    # Linux's fix for XSA-482), so xenvhostd could not ask Xen either.
    dmesg | grep -q 'xen_privcmd: No target domain found' || die "privcmd is not restricted here"
    expect_listed "$listing" "$dir/xenvhost-transport" "none: the guest's type is not readable here and Xen cannot be asked (this domain's privcmd is restricted to its xenstore target): an HVM guest would get no device model; load xen-privcmd with unrestricted=1 to ask Xen"
    worker_pid=$(sed -n "s|^$dir/xenvhost-worker-pid = \"\\([0-9]*\\)\".*|\\1|p" <<<"$listing")
    [ -n "$worker_pid" ] || die "no xenvhost-worker-pid in $dir"
    kill -0 "$worker_pid" 2>/dev/null || die "worker pid $worker_pid is not running"
    case " $(tr '\0' ' ' <"/proc/$worker_pid/cmdline")" in
        *" --domid $domid "*) ;;
        *) die "worker pid $worker_pid does not serve domid $domid" ;;
    esac
    [ -S "$sock" ] || die "$sock is not there"
    echo "$worker_pid" >"$STATE/worker_pid"
    echo "STEP keys $(since "$t0") $dir: state 2, worker pid $worker_pid listens on $sock"

    t0=$(uptime_s)
    # Every xenstore-read is a process start, slow here under TCG: the keys
    # are sampled from before the front-end connects until after it has
    # left, and must have read 1/grant at least once.
    rm -f "$work/frontend.done"
    (
        while :; do
            echo "$(xenstore-read "$dir/xenvhost-connected" 2>&1) $(xenstore-read "$dir/xenvhost-mapping" 2>&1)"
            [ ! -e "$work/frontend.done" ] || break
        done
    ) >"$work/keys.log" 2>&1 &
    local sampler=$!
    rc=0
    xen-grant-frontend --socket "$sock" --image "$img" --control "$run_dir/dom$domid/control" \
        --guest-domid "$domid" --guest-grants "$refs" --seconds 2 >"$work/frontend.log" 2>&1 || rc=$?
    touch "$work/frontend.done"
    wait "$sampler" || true
    sed 's/^/  frontend: /' "$work/frontend.log"
    [ "$rc" -eq 0 ] || die "xen-grant-frontend failed (exit $rc)"
    echo "  xenvhost-connected, xenvhost-mapping as sampled: $(sort -u "$work/keys.log" | tr '\n' ';')"
    grep -qx '1 grant' "$work/keys.log" || die "the keys never read connected 1, mapping grant while the front-end ran"
    disconnected() { [ "$(xenstore-read "$dir/xenvhost-connected")" = 0 ]; }
    wait_until 15 disconnected || die "xenvhost-connected is not back to 0 after the front-end left"
    local summary
    summary=$(grep '^SUMMARY ' "$work/frontend.log") || die "the front-end printed no SUMMARY"
    echo "STEP data $(since "$t0") the worker mapped guest $domid's grants to domain $self: $summary"
}

# After `xl destroy` of the guest in dom0: its worker, backend directory and
# run directory are gone (this domain removes its backend directories
# itself: libxl in dom0 waits for that).
step_gone() {
    local domid=$1 self worker_pid run_dir t0
    t0=$(uptime_s)
    self=$(self_domid)
    worker_pid=$(saved worker_pid)
    run_dir=$(saved run_dir)
    worker_gone() { ! kill -0 "$worker_pid" 2>/dev/null; }
    wait_until 15 worker_gone || die "worker pid $worker_pid is still running 15 s after xl destroy"
    if xenstore-exists "/local/domain/$self/backend/virtio_disk/$domid"; then
        xenstore-ls -fp "/local/domain/$self/backend/virtio_disk/$domid" | sed 's/^/  left: /'
        die "/local/domain/$self/backend/virtio_disk/$domid is still there"
    fi
    [ ! -e "$run_dir/dom$domid" ] || die "the daemon left $run_dir/dom$domid behind"
    if pidof xenvhost-worker >/dev/null; then die "a worker is still running: pid $(pidof xenvhost-worker)"; fi
    grep -E "dom$domid|virtio_disk" "$work/daemon.log" | tail -n 8 | sed 's/^/  xenvhostd: /'
    echo "STEP gone $(since "$t0") worker pid $worker_pid gone; no backend directory, run directory or worker left in domain $self"
}

# The error key a refused device gets (the key's value is printed).
step_error_key() {
    local domid=$1 self dir t0
    t0=$(uptime_s)
    self=$(self_domid)
    dir=/local/domain/$self/backend/virtio_disk/$domid/$devid
    has_error() { xenstore-exists "$dir/xenvhost-error"; }
    wait_until 30 has_error || { xenstore-ls -fp "$dir" | sed 's/^/  /'; die "no xenvhost-error in $dir"; }
    echo "ERROR-KEY $(xenstore-read "$dir/xenvhost-error")"
    echo "STEP error-key $(since "$t0") $dir/xenvhost-error is there"
}

# SIGTERM as KillMode=process says: exit 0 and STOPPING=1.
step_stop() {
    local daemon_pid rc t0
    t0=$(uptime_s)
    daemon_pid=$(saved daemon_pid)
    kill -TERM "$daemon_pid"
    wait_until 30 gone "$daemon_pid" || die "xenvhostd did not exit within 30 s of SIGTERM"
    grep -q "^NOTIFY pid=$daemon_pid .*STOPPING=1" "$work/notify.log" || die "xenvhostd sent no STOPPING=1"
    if pidof xenvhost-worker >/dev/null; then die "a worker is still running: pid $(pidof xenvhost-worker)"; fi
    kill -TERM "$(saved listener_pid)" 2>/dev/null || true
    echo "STEP stop $(since "$t0") SIGTERM: STOPPING=1, xenvhostd gone, no worker left"
}

# xenvhostd's log, for dom0's transcript on a failure.
step_log() {
    sed 's/^/  xenvhostd: /' "$work/daemon.log" 2>/dev/null || echo "no daemon log"
    [ ! -s "$work/frontend.log" ] || sed 's/^/  frontend: /' "$work/frontend.log"
}
