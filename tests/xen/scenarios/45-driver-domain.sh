#!/bin/bash
# scenario-timeout: 600
# A driver domain on the real hypervisor. dom0 starts a PV domain with
# driver_domain=1 whose initramfs holds what `make install` installs
# (tests/xen/driverdomain/); inside it xenvhostd runs as systemd would start
# the installed xenvhostd-driverdomain.service. dom0 creates a PV guest
# through the installed xenvhost-create with a standalone virtio disk that
# says backend=<the driver domain>: libxl writes the device under the driver
# domain's backend directory, the driver domain's xenvhostd answers the
# handshake and starts the guest's worker there. The guest grants pages of
# its memory to the driver domain; xen-grant-frontend, run inside the
# driver domain, plays the guest's driver in them against the guest's own
# worker, which maps the grants (the guest is PV: it has no virtio
# transport). Data is verified in the guest's pages and in the image.
# Then `xl destroy` in dom0, and inside the driver domain the worker, the
# backend directory (which the driver domain removes itself) and the run
# directory must be gone; xenvhostd stops on SIGTERM.
#
# dom0 runs the driver domain's steps (tests/xen/driverdomain/dd-steps.sh)
# by writing "N STEP ARGS" to its ~/data/xenvhost-test/cmd; the step's lines
# come back on the driver domain's console (xenconsoled's log) as
# "DD[N] ...", ending with "DD[N] END rc=RC", and are printed here.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

GUEST_GRANT_PAGES=256
DD_BOOT_WAIT=240

dd_name=xvh-dd
guest=dd-guest
img=/root/dd-disk.img   # in the driver domain's file system
devid=51712             # xvda
dd_log=/var/log/xen/console/guest-$dd_name.log
guest_log=/var/log/xen/console/guest-$guest.log
work=$(mktemp -d /tmp/driver-domain.XXXXXX)
ddid=
seq=0
t_start=$(uptime_s)

step() {
    local what=$1 t0=$2
    shift 2
    echo "STEP $what $(since "$t0") $*"
}
# The driver domain's console without carriage returns.
dd_console() { tr -d '\r' <"$dd_log" 2>/dev/null || true; }

# Runs STEP ARGS... in the driver domain and prints its lines; fails if the
# step failed or did not end within LIMIT seconds (DD_LIMIT, default 120).
dd_do() {
    local rc
    seq=$((seq + 1))
    xenstore-write "/local/domain/$ddid/data/xenvhost-test/cmd" "$seq $*"
    ended() { dd_console | grep -q "^DD\[$seq\] END rc="; }
    if ! wait_until "${DD_LIMIT:-120}" ended; then
        dd_console | sed -n "s/^DD\[$seq\] /  dd: /p"
        die "the driver domain's step '$*' did not end within ${DD_LIMIT:-120} s"
    fi
    dd_console | sed -n "s/^DD\[$seq\] //p" | grep -v '^END rc=' | sed 's/^/  dd: /'
    rc=$(dd_console | sed -n "s/^DD\[$seq\] END rc=//p" | tail -n 1)
    [ "$rc" = 0 ] || die "the driver domain's step '$*' failed (rc $rc)"
}

cleanup() {
    local rc=$1
    set +e
    if [ "$rc" -ne 0 ]; then
        if [ -n "$ddid" ] && xl domid "$dd_name" >/dev/null 2>&1; then
            echo "the driver domain's xenvhostd log:"
            DD_LIMIT=20 dd_do log 2>&1 | sed 's/^/  /'
        fi
        echo "the driver domain's console (other than its steps):"
        dd_console | grep -v '^DD\[' | sed 's/^/  dd| /'
        [ ! -s "$guest_log" ] || tr -d '\r' <"$guest_log" | sed 's/^/  guest| /'
        [ ! -s "$work/create.log" ] || sed 's/^/  create: /' "$work/create.log"
    fi
    if xl domid "$guest" >/dev/null 2>&1; then xl destroy "$guest"; fi
    if xl domid "$dd_name" >/dev/null 2>&1; then xl destroy "$dd_name"; fi
    rm -rf "$work"
}
trap 'cleanup $?' EXIT

# ------------------------------------------------------------- the driver domain
t0=$(uptime_s)
[ -f /root/driverdomain.cpio.gz ] || die "dom0 has no /root/driverdomain.cpio.gz"
rm -f "$dd_log" "$guest_log"
cat >"$work/$dd_name.cfg" <<CFG
name = "$dd_name"
type = "pv"
memory = 256
vcpus = 1
kernel = "/root/vmlinux"
ramdisk = "/root/driverdomain.cpio.gz"
extra = "console=hvc0 rdinit=/init quiet"
driver_domain = 1
on_poweroff = "destroy"
on_crash = "preserve"
CFG
xl create "$work/$dd_name.cfg" >"$work/dd-create.log" 2>&1 || { cat "$work/dd-create.log"; die "xl create $dd_name failed"; }
ddid=$(xl domid "$dd_name")
agent_ready() { dd_console | grep -q '^DD-AGENT-READY'; }
wait_until "$DD_BOOT_WAIT" agent_ready || die "the driver domain did not get ready within $DD_BOOT_WAIT s"
dd_console | grep -E '^DD-(UP|AGENT-READY|FAIL)' | sed 's/^/  dd| /'
if dd_console | grep -q '^DD-FAIL'; then die "the driver domain could not set itself up"; fi
dd_console | grep -q "^DD-AGENT-READY domid=$ddid " || die "the driver domain does not read its own domid $ddid from xenstore"
step driver-domain "$t0" "PV domain $dd_name (domid $ddid, driver_domain=1) is up, with xenstore through /dev/xen/xenbus"

t0=$(uptime_s)
dd_do service
dd_do image "$img" 16M
step service "$t0" "xenvhostd-driverdomain.service runs in $dd_name"

# ------------------------------------------------------------- the guest
t0=$(uptime_s)
cfg=$work/$guest.cfg
cat >"$cfg" <<CFG
name = "$guest"
type = "pv"
memory = 128
vcpus = 1
kernel = "/root/vmlinux"
ramdisk = "/root/domU.cpio.gz"
extra = "console=hvc0 rdinit=/init quiet xenvhost.grant=$GUEST_GRANT_PAGES xenvhost.grant_to=$ddid"
disk = [ 'backendtype=standalone,specification=virtio,vdev=xvda,backend=$dd_name,target=$img' ]
CFG
rc=0
xenvhost-create "$cfg" >"$work/create.log" 2>&1 || rc=$?
sed 's/^/  /' "$work/create.log"
[ "$rc" -eq 0 ] || die "xenvhost-create exited with $rc"
domid=$(xl domid "$guest") || die "xenvhost-create succeeded but there is no domain $guest"
state=$(xl list "$guest" | awk 'NR == 2 { print $5 }')
case $state in *p*) die "xenvhost-create left $guest paused ($state)" ;; esac
step create "$t0" "xenvhost-create: guest $guest is domid $domid, running; its disk's back-end is in $dd_name"

t0=$(uptime_s)
dir=/local/domain/$ddid/backend/virtio_disk/$domid/$devid
listing=$(xenstore-ls -fp "$dir")
expect_listed "$listing" "$dir/state" 2
expect_listed "$listing" "$dir/frontend-id" "$domid"
xenstore-exists "/local/domain/0/backend/virtio_disk/$domid" && die "dom0 has a backend directory for $guest's disk"
fe=$(xenstore-read "/local/domain/$domid/device/virtio_disk/$devid/backend-id") || die "no frontend directory"
[ "$fe" = "$ddid" ] || die "the guest's frontend names backend-id $fe, not $ddid"
xenvhost-status "$guest" >"$work/status.log" 2>&1 || die "xenvhost-status failed: $(cat "$work/status.log")"
sed 's/^/  /' "$work/status.log"
grep -q "^$guest  *$domid  *$ddid  *virtio_disk/$devid .*2 InitWait" "$work/status.log" ||
    die "xenvhost-status in dom0 does not show $guest's disk served by domain $ddid in state 2"
step status "$t0" "dom0 sees the disk in $dir at state 2; xenvhost-status shows it"

# ------------------------------------------------------------- data
t0=$(uptime_s)
has_grants() { tr -d '\r' <"$guest_log" | grep -q 'GUEST-PAGES grant refs '; }
wait_until 120 has_grants || die "the guest printed no GUEST-PAGES grant line in 120 s"
refs=$(tr -d '\r' <"$guest_log" | sed -n 's/.*GUEST-PAGES grant refs \([0-9,-]*\).*/\1/p' | tail -n 1)
[ -n "$refs" ] || die "no grant refs in the guest's GUEST-PAGES line"
step grants "$t0" "guest $domid granted $GUEST_GRANT_PAGES pages to domain $ddid: refs $refs"
t0=$(uptime_s)
dd_do frontend "$domid" "$refs" "$img"
step data "$t0" "inside $dd_name: keys, the front-end's data checks through the worker's grant mappings"

# ------------------------------------------------------------- destroy
t0=$(uptime_s)
xl destroy "$guest" >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; die "xl destroy failed"; }
sed 's/^/  xl: /' "$work/destroy.log"
destroy_s=$(since "$t0")
# libxl waits up to 10 s for the driver domain to remove the backend
# directory; it is removed when xenvhostd answers Closing.
at_least 9.5 "$destroy_s" || die "xl destroy took $destroy_s s: libxl waited for its 10 s timeout"
step destroy "$t0" "xl destroy $guest in dom0"
t0=$(uptime_s)
dd_do gone "$domid"
if xenstore-exists "/local/domain/$ddid/backend/virtio_disk/$domid"; then die "the backend directory is still there"; fi
if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
if xl domid "$guest" >/dev/null 2>&1; then die "$guest is still listed"; fi
step gone "$t0" "the driver domain's side is cleaned up"

# ------------------------------------------------------------- stop
t0=$(uptime_s)
dd_do stop
xl destroy "$dd_name"
ddid=
step stop "$t0" "xenvhostd stopped; $dd_name destroyed"
echo "FIGURES driver-domain scenario: $(since "$t_start") s"
