#!/bin/bash
# The installed service as a host runs it. The project's Debian package is
# installed (dom0's main.sh ran dpkg -i at boot): its programs answer
# --version with the package's version, its postinst enabled
# xenvhostd.service the Debian way (deb-systemd-helper) and not the
# driver-domain unit, and created the users guests' workers run as.
# xenvhostd is started from what the package installed, the way systemd would start
# xenvhostd.service: the unit's ExecStart with its EnvironmentFile expanded,
# a clean environment, RuntimeDirectory created, readiness from sd_notify
# (Type=notify: READY=1 from the main pid on $NOTIFY_SOCKET). Then a guest
# with a standalone virtio disk is created through the installed
# xenvhost-create, xenvhost-status and the status keys are checked, data
# moves through a worker's grant mappings, the guest is destroyed and its
# worker must be gone, and the service is stopped as the unit's KillMode
# says (SIGTERM; exit 0, STOPPING=1, nothing left behind). Last, `dpkg
# --purge xenvhost` must leave no file of the package, no unit or
# enablement and no runtime directory; the package is then installed again
# for the scenarios after this one.
#
# Every step prints "STEP <name> <seconds> <what>", and lines worth showing
# "SHOW <text>"; `make demo` (tests/xen/demo.sh) shows only those.
#
# The data path: the guest grants pages of its own memory to dom0 (its init
# runs xen-guest-pages, asked for with xenvhost.grant=N on its command line,
# and prints the refs on its console); xen-grant-frontend in dom0 places the
# rings and buffers in those pages and drives the guest's own worker, as the
# guest's virtio driver would (the test guest has no driver for our socket).
# The worker maps the guest's grants through gntdev.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source-path=SCRIPTDIR source=lib/unit.sh
source "$(dirname "$0")/lib/unit.sh"

GUEST_GRANT_PAGES=256

unit=/lib/systemd/system/xenvhostd.service
name=demo
img=/root/demo-disk.img
devid=51712        # xvda: (202 << 8) | (0 << 4) | 0
be_root=/local/domain/0/backend/virtio_disk
work=$(mktemp -d /tmp/installed-service.XXXXXX)
daemon_pid=
listener_pid=
run_dir=
domid=

# Exited means a zombie until reaped.
gone() { [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null || echo Z)" = Z ]; }
step() {
    local what=$1 t0=$2
    shift 2
    echo "STEP $what $(since "$t0") $*"
}
show() { sed 's/^/SHOW /'; }

cleanup() {
    local rc=$1
    if xl domid "$name" >/dev/null 2>&1; then xl destroy "$name" || true; fi
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" || true
        wait_until 10 gone "$daemon_pid" || kill -KILL "$daemon_pid" || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$listener_pid" ] && kill -0 "$listener_pid" 2>/dev/null; then
        kill -TERM "$listener_pid" || true
        wait "$listener_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ]; then
        for f in daemon.log notify.log frontend.log; do
            if [ -s "$work/$f" ]; then sed "s/^/  ${f%.log}: /" "$work/$f"; fi
        done
    fi
    if [ -n "$run_dir" ]; then rm -rf "$run_dir"; fi
    rm -rf "$work" "$img" /etc/default/xenvhostd
}
trap 'cleanup $?' EXIT

# ------------------------------------------------------------- the package
pkg=xenvhost
wants=/etc/systemd/system/multi-user.target.wants
t0=$(uptime_s)
deb=
for f in /usr/share/xenvhost-tests/xen/packages/"$pkg"_*.deb; do [ -f "$f" ] && deb=$f; done
[ -n "$deb" ] || die "dom0's image carries no $pkg package"
status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) || die "the package $pkg is not installed"
[ "$status" = "install ok installed" ] || die "the package $pkg is '$status', not installed"
version=$(dpkg-query -W -f='${Version}' "$pkg")
for prog in xenvhostd xenvhost-worker xenvhost-dm xenvhost-status xenvhost-create; do
    path=$(command -v "$prog") || die "$prog is not on PATH"
    dpkg-query -S "$path" >/dev/null 2>&1 || die "$path (first on PATH) is not the package's"
    out=$("$prog" --version) || die "$prog --version failed"
    [ "$out" = "$prog $version" ] || die "$prog --version says '$out', the package is $version"
done
[ "$(readlink "$wants/xenvhostd.service")" = "$unit" ] || die "the postinst did not enable xenvhostd.service"
[ ! -e "$wants/xenvhostd-driverdomain.service" ] || die "the postinst enabled xenvhostd-driverdomain.service"
for user in xenvhost xenvhost-range-base; do
    grep -q "^$user:" /etc/passwd || die "the postinst did not create the user $user"
done
dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q '^ /etc/xenvhost/xenvhost.conf ' ||
    die "/etc/xenvhost/xenvhost.conf is not a conffile of $pkg"
echo "SHOW $(dpkg-query -W -f='${Package} ${Version} ${Architecture}' "$pkg") installed by dpkg -i $(basename "$deb")"
step package "$t0" "$pkg $version installed with dpkg: every program's --version says $version;" \
    "xenvhostd.service enabled ($wants), the driver-domain unit not; users xenvhost and xenvhost-range-base;" \
    "/etc/xenvhost/xenvhost.conf a conffile"

# ------------------------------------------------------------- the unit
[ -f "$unit" ] || die "$unit is not installed"
t0=$(uptime_s)
[ "$(unit_value Type)" = notify ] || die "the unit is not Type=notify"
condition=$(unit_value ConditionPathExists)
[ -z "$condition" ] || [ -e "$condition" ] || die "ConditionPathExists=$condition is false in dom0"
# The operator's extra words, where the unit documents them.
env_file=$(unit_value EnvironmentFile)
[ -n "$env_file" ] || die "the unit has no EnvironmentFile"
mkdir -p "$(dirname "${env_file#-}")"
echo "XENVHOSTD_ARGS=--log-level debug" >"${env_file#-}"
read_environment_file "$env_file"
exec_start=$(unit_value ExecStart)
expand_exec_start "$exec_start"
[ -x "${exec_argv[0]}" ] || die "ExecStart's program ${exec_argv[0]} is not installed"
config=
for ((i = 1; i < ${#exec_argv[@]}; i++)); do
    if [ "${exec_argv[i]}" = --config ]; then config=${exec_argv[i + 1]:-}; fi
done
[ -n "$config" ] || die "ExecStart has no --config"
[ -f "$config" ] || die "the configuration '$config' ExecStart names is not installed"
runtime=$(unit_value RuntimeDirectory)
[ -n "$runtime" ] || die "the unit has no RuntimeDirectory"
run_dir=/run/$runtime
# The daemon's run directory is the configuration's run-dir or its default,
# which must be the RuntimeDirectory.
conf_run_dir=$(sed -n 's/^[[:space:]]*run-dir[[:space:]]*=[[:space:]]*//p' "$config" | tail -n 1)
[ -z "$conf_run_dir" ] || [ "$conf_run_dir" = "$run_dir" ] ||
    die "$config sets run-dir = $conf_run_dir, not the RuntimeDirectory $run_dir"
[ ! -e "$run_dir" ] || die "$run_dir exists before the service starts"
mode=$(unit_value RuntimeDirectoryMode)
mkdir -m "${mode:-0755}" "$run_dir"
echo "unit $unit: ExecStart=$exec_start"
echo "  EnvironmentFile=$env_file: XENVHOSTD_ARGS=${unit_env[XENVHOSTD_ARGS]:-}"
echo "  expanded: ${exec_argv[*]}"

notify=$work/notify.sock
sd-notify-listener "$notify" >"$work/notify.log" 2>&1 &
listener_pid=$!
wait_until 10 grep -q '^LISTENING' "$work/notify.log" || die "sd-notify-listener did not listen"
# A new session stands in for the service's cgroup (its processes are found
# by session id at the stop); systemd's clean environment plus the unit's.
env_words=()
for key in "${!unit_env[@]}"; do env_words+=("$key=${unit_env[$key]}"); done
setsid env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin NOTIFY_SOCKET="$notify" \
    "${env_words[@]}" "${exec_argv[@]}" >"$work/daemon.log" 2>&1 </dev/null &
daemon_pid=$!
ready() { grep -q "^NOTIFY pid=$daemon_pid .*READY=1" "$work/notify.log" || gone "$daemon_pid"; }
wait_until 60 ready || die "xenvhostd sent no READY=1 within 60 s"
if gone "$daemon_pid"; then die "xenvhostd exited before READY=1"; fi
# NotifyAccess=main: systemd takes READY=1 from the main process only.
[ "$(readlink "/proc/$daemon_pid/exe")" = "${exec_argv[0]}" ] || die "pid $daemon_pid is not ${exec_argv[0]}"
grep '^NOTIFY' "$work/notify.log" | sed 's/^/  /'
step service "$t0" "xenvhostd.service started as systemd would: ${exec_argv[*]}; READY=1 from its main pid $daemon_pid"

# ------------------------------------------------------------- the guest
t0=$(uptime_s)
truncate -s 16M "$img"
extra="console=hvc0 rdinit=/init quiet xenvhost.grant=$GUEST_GRANT_PAGES"
cfg=$work/$name.cfg
cat >"$cfg" <<CFG
name = "$name"
type = "pv"
memory = 128
vcpus = 1
kernel = "/root/vmlinux"
ramdisk = "/root/domU.cpio.gz"
extra = "$extra"
disk = [ 'backendtype=standalone,specification=virtio,vdev=xvda,target=$img' ]
CFG
rc=0
xenvhost-create "$cfg" >"$work/create.log" 2>&1 || rc=$?
sed 's/^/  /' "$work/create.log"
[ "$rc" -eq 0 ] || die "xenvhost-create exited with $rc"
domid=$(xl domid "$name") || die "xenvhost-create succeeded but there is no domain $name"
state=$(xl list "$name" | awk 'NR == 2 { print $5 }')
case $state in *p*) die "xenvhost-create left $name paused ($state)" ;; esac
step create "$t0" "xenvhost-create $name.cfg: guest '$name' is domid $domid, running;" \
    "its virtio disk xvda ($img) reached state 2 before the unpause"

# ------------------------------------------------------------- status
dir=$be_root/$domid/$devid
sock=$run_dir/dom$domid/virtio_disk-$devid.sock
t0=$(uptime_s)
xenvhost-status "$name" >"$work/status.log" 2>&1 || die "xenvhost-status failed: $(cat "$work/status.log")"
show <"$work/status.log"
grep -q "^$name  *$domid  *0  *virtio_disk/$devid .*2 InitWait .*$sock" "$work/status.log" ||
    die "xenvhost-status does not show $name's disk in state 2 on $sock"
step status "$t0" "xenvhost-status $name"

t0=$(uptime_s)
listing=$(xenstore-ls -fp "$dir")
printf '%s\n' "$listing" | sed 's/^/  /'
expect_listed "$listing" "$dir/state" 2
expect_listed "$listing" "$dir/online" 1
expect_listed "$listing" "$dir/vhost-user-socket" "$sock"
expect_listed "$listing" "$dir/xenvhost-connected" 0
expect_listed "$listing" "$dir/xenvhost-mapping" none
expect_listed "$listing" "$dir/xenvhost-restarts" 0
if grep -q "^$dir/xenvhost-error " <<<"$listing"; then die "the daemon reports an error for $name's disk"; fi
grep -E "^$dir/(state|params|vhost-user-socket|xenvhost-[a-z-]+) " <<<"$listing" | show
worker_pid=$(sed -n "s|^$dir/xenvhost-worker-pid = \"\\([0-9]*\\)\".*|\\1|p" <<<"$listing")
[ -n "$worker_pid" ] || die "no xenvhost-worker-pid in $dir"
kill -0 "$worker_pid" 2>/dev/null || die "worker pid $worker_pid is not running"
worker_exe=$(readlink "/proc/$worker_pid/exe")
[ "$worker_exe" = "$(dirname "${exec_argv[0]}")/xenvhost-worker" ] ||
    die "the worker runs $worker_exe, not the installed one next to xenvhostd"
case " $(tr '\0' ' ' <"/proc/$worker_pid/cmdline")" in
    *" --domid $domid "*) ;;
    *) die "worker pid $worker_pid does not serve domid $domid" ;;
esac
[ -S "$sock" ] || die "$sock is not there"
step keys "$t0" "status keys in $dir: worker pid $worker_pid ($worker_exe --domid $domid) listens on $sock"

# ------------------------------------------------------------- data
# Value of KEY in the front-end's SUMMARY line.
summary_value() {
    local word words
    read -r -a words <<<"$(grep '^SUMMARY ' "$work/frontend.log")"
    for word in "${words[@]}"; do
        case $word in "$1="*) echo "${word#*=}"; return 0 ;; esac
    done
    die "the front-end's SUMMARY has no $1"
}
# Bytes of the requests in the front-end's timed read loops.
loop_bytes() {
    awk '/reads of [0-9]+ KiB .* requests in / {
        for (i = 1; i < NF; i++) { if ($(i + 1) == "KiB") kib = $i; if ($(i + 1) == "requests" && $(i + 2) == "in") n = $i }
        total += kib * 1024 * n
    } END { printf "%d", total }' "$work/frontend.log"
}

t0=$(uptime_s)
console=/var/log/xen/console/guest-$name.log
has_grants() { grep -q 'GUEST-PAGES grant refs ' "$console"; }
wait_until 120 has_grants || die "the guest printed no GUEST-PAGES grant line in 120 s"
refs=$(sed -n 's/.*GUEST-PAGES grant refs \([0-9,-]*\).*/\1/p' "$console" | tail -n 1)
[ -n "$refs" ] || die "no grant refs in the guest's GUEST-PAGES line"
xen-grant-frontend --socket "$sock" --image "$img" --control "$run_dir/dom$domid/control" \
    --guest-domid "$domid" --guest-grants "$refs" --seconds 1 >"$work/frontend.log" 2>&1 &
fe_pid=$!
# While the front-end is connected the status keys say so, and how the
# worker maps the guest's memory.
connected() { [ "$(xenstore-read "$dir/xenvhost-connected")" = 1 ] || gone "$fe_pid"; }
wait_until 60 connected || die "xenvhost-connected did not become 1 within 60 s"
if gone "$fe_pid"; then
    wait "$fe_pid" || true
    sed 's/^/  frontend: /' "$work/frontend.log"
    die "the front-end finished before xenvhost-connected became 1"
fi
mapped() { [ "$(xenstore-read "$dir/xenvhost-mapping")" = grant ] || gone "$fe_pid"; }
wait_until 30 mapped || die "xenvhost-mapping did not become 'grant' while the front-end was connected"
live=$(xenstore-ls -fp "$dir")
expect_listed "$live" "$dir/xenvhost-connected" 1
expect_listed "$live" "$dir/xenvhost-mapping" grant
grep -E "^$dir/xenvhost-(connected|mapping) " <<<"$live" | sed 's/^/SHOW while connected: /'
rc=0
wait "$fe_pid" || rc=$?
sed 's/^/  frontend: /' "$work/frontend.log"
[ "$rc" -eq 0 ] || die "xen-grant-frontend failed (exit $rc)"
disconnected() { [ "$(xenstore-read "$dir/xenvhost-connected")" = 0 ]; }
wait_until 15 disconnected || die "xenvhost-connected is not back to 0 after the front-end left"
requests=$(summary_value worker_requests)
maps=$(summary_value worker_map_calls)
unmaps=$(summary_value worker_unmap_calls)
refused=$(summary_value worker_map_failures)
pages=$(summary_value worker_pages_mapped)
[ "$requests" -gt 0 ] || die "the worker counted no requests"
[ "$maps" -gt 0 ] || die "the worker counted $requests requests and $maps map calls"
# Every map that succeeded was unmapped; the refused one is the front-end's
# never-granted check.
[ "$maps" -eq $((unmaps + refused)) ] || die "the worker made $maps map calls but $unmaps unmap calls and $refused refused"
echo "SHOW guest $name (domid $domid) granted dom0 $GUEST_GRANT_PAGES pages of its memory (refs $refs);"
echo "SHOW xen-grant-frontend in dom0 put the rings and buffers in them and drove the guest's worker pid $worker_pid,"
echo "SHOW which mapped the guest's grants (gntdev) to move the data between them and $img;"
echo "SHOW writes and reads checked byte for byte in the guest's pages and in the image; $(($(loop_bytes) / 1024)) KiB read in the two 1 s read loops"
step data "$t0" "$requests requests through the worker's grant mappings: $maps map calls ($refused refused: a ref" \
    "never granted, on purpose), $unmaps unmap calls, $pages pages ($((pages * 4)) KiB) mapped;" \
    "4 KiB reads $(summary_value rps_4k)/s, 64 KiB reads $(summary_value rps_64k)/s"

# ------------------------------------------------------------- destroy
t0=$(uptime_s)
xl destroy "$name" >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; die "xl destroy failed"; }
step destroy "$t0" "xl destroy $name"
t0=$(uptime_s)
worker_gone() { ! kill -0 "$worker_pid" 2>/dev/null; }
wait_until 15 worker_gone || die "worker pid $worker_pid is still running 15 s after xl destroy"
if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
if xenstore-exists "$be_root/$domid"; then die "$be_root/$domid is still there"; fi
[ ! -e "$run_dir/dom$domid" ] || die "the daemon left $run_dir/dom$domid behind"
if pidof xenvhost-worker >/dev/null; then die "a worker is still running: pid $(pidof xenvhost-worker)"; fi
step worker-gone "$t0" "worker pid $worker_pid gone; no backend directory, run directory or worker left"

# ------------------------------------------------------------- stop
# The processes of the service: its session stands in for its cgroup.
service_pids() {
    local stat rest sid pid
    for stat in /proc/[0-9]*/stat; do
        # A builtin read: a process start per entry costs seconds under TCG.
        read -r rest 2>/dev/null <"$stat" || continue
        pid=${rest%% *}
        rest=${rest##*) }
        read -r _ _ _ sid _ <<<"$rest"
        [ "$sid" != "$daemon_pid" ] || echo "$pid"
    done
}
t0=$(uptime_s)
kill_mode=$(unit_value KillMode)
kill_mode=${kill_mode:-control-group}
stop_timeout=$(unit_value TimeoutStopSec)
stop_timeout=${stop_timeout%s}
stop_timeout=${stop_timeout:-90}
case $kill_mode in
    control-group) mapfile -t targets <<<"$(service_pids)" ;;
    mixed | process) targets=("$daemon_pid") ;;
    *) die "KillMode=$kill_mode is not handled" ;;
esac
kill -TERM "${targets[@]}"
wait_until "$stop_timeout" gone "$daemon_pid" || die "xenvhostd did not exit within TimeoutStopSec=${stop_timeout}s"
rc=0
wait "$daemon_pid" || rc=$?
stopped_pid=$daemon_pid
daemon_pid=
[ "$rc" -eq 0 ] || die "xenvhostd exited with $rc on SIGTERM"
left=$(service_pids)
[ -z "$left" ] || die "processes of the service left after xenvhostd exited (KillMode=$kill_mode would kill them): $left"
grep -q "^NOTIFY pid=$stopped_pid .*STOPPING=1" "$work/notify.log" || die "xenvhostd sent no STOPPING=1"
left=$(ls -A "$run_dir")
[ -z "$left" ] || die "xenvhostd left in $run_dir: $left"
# systemd removes the RuntimeDirectory at the stop unless told to preserve
# it; a preserved one is the package's to remove.
preserve=$(unit_value RuntimeDirectoryPreserve)
case ${preserve:-no} in
    yes) kept="$run_dir empty, kept (RuntimeDirectoryPreserve=yes)" ;;
    *) kept="$run_dir empty, removed"; rmdir "$run_dir"; run_dir= ;;
esac
step stop "$t0" "SIGTERM (KillMode=$kill_mode): STOPPING=1, xenvhostd exited 0, no process of the service left;" \
    "$kept"
sed 's/^/  xenvhostd: /' "$work/daemon.log"

# ------------------------------------------------------------- purge
# The operator's EnvironmentFile written above is not the package's.
rm -f "${env_file#-}"
t0=$(uptime_s)
dpkg-query -L "$pkg" >"$work/package.list"
dpkg --purge "$pkg" >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; die "dpkg --purge $pkg failed"; }
sed 's/^/  dpkg: /' "$work/purge.log"
left=()
while read -r path; do
    if [ -d "$path" ] && [ ! -L "$path" ]; then
        # dpkg keeps a directory of the package only while something else is in it.
        [ -n "$(ls -A "$path")" ] || left+=("$path/")
    elif [ -e "$path" ] || [ -L "$path" ]; then
        left+=("$path")
    fi
done <"$work/package.list"
[ "${#left[@]}" = 0 ] || die "dpkg --purge left: ${left[*]}"
[ ! -e /etc/xenvhost ] || die "dpkg --purge left /etc/xenvhost: $(ls -A /etc/xenvhost)"
[ ! -e "/run/$runtime" ] || die "dpkg --purge left the RuntimeDirectory /run/$runtime"
run_dir=
enablement=$(find /etc/systemd /var/lib/systemd ! -type d 2>/dev/null)
[ -z "$enablement" ] || die "dpkg --purge left units' enablement: $enablement"
if dpkg-query -W "$pkg" >/dev/null 2>&1; then die "dpkg still knows $pkg after the purge"; fi
echo "SHOW dpkg --purge $pkg: none of its $(wc -l <"$work/package.list") paths left, nor /etc/xenvhost, $wants/xenvhostd.service or /run/$runtime"
step purge "$t0" "dpkg --purge $pkg: no file, directory, conffile, unit, enablement or runtime directory left"

t0=$(uptime_s)
dpkg --force-depends -i "$deb" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; die "dpkg -i $deb failed"; }
[ "$(dpkg-query -W -f='${Status}' "$pkg")" = "install ok installed" ] || die "$pkg is not installed again"
[ "$(readlink "$wants/xenvhostd.service")" = "$unit" ] || die "xenvhostd.service is not enabled again"
step reinstall "$t0" "dpkg -i $(basename "$deb") again (for the scenarios after this one): installed and enabled"
