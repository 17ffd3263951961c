#!/bin/bash
# dom0 test sequence: bring up the Xen devices and toolstack, start the PV
# guest, run every scenario with DOMU_ID exported, destroy the guest.
# The host harness (tests/xen/run.sh) reads the markers "T+<uptime>s NAME ..."
# and the results "SCENARIO <name> PASS|FAIL <seconds>".
# Kernel words: `nodomu` skips the guest and the scenarios;
# `xenvhost.scenarios=a:b` runs only the scenarios named a and b;
# `xenvhost.demo` (make demo) skips the test guest and runs the selected
# scenarios without one (DOMU_ID empty).
set -euo pipefail
SHARE=/usr/share/xenvhost-tests/xen
SCENARIO_TIMEOUT=300
DOMU_WAIT=300

uptime_s() { cut -d' ' -f1 /proc/uptime; }
mark() { echo "T+$(uptime_s)s $*"; }
since() { awk -v a="$1" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }'; }

mount_filesystems() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    mkdir -p /dev/pts /dev/shm
    mount -t devpts devpts /dev/pts
    mount -t tmpfs tmpfs /dev/shm
    mount -t tmpfs tmpfs /tmp
}

start_xen_devices() {
    local m d
    for m in xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs; do
        modprobe "$m"
    done
    mkdir -p /proc/xen
    mount -t xenfs xenfs /proc/xen
    for d in gntdev privcmd evtchn gntalloc xenbus; do
        if [ ! -c "/dev/xen/$d" ]; then
            echo "/dev/xen/$d is missing"
            return 1
        fi
    done
    mark "XEN-DEVICES gntdev privcmd evtchn gntalloc xenbus"
}

start_toolstack() {
    xenstored --pid-file /run/xenstored.pid
    mark "xenstored started"
    xen-init-dom0
    xenconsoled --pid-file=/run/xenconsoled.pid --log=guest
    xl list
    xl info | grep -E '^(xen_version|total_memory|free_memory|nr_cpus|virt_caps)'
    mark "TOOLSTACK-READY"
}

# Creates the guest and waits until its console (logged by xenconsoled) shows
# that its init ran; sets DOMU_ID.
start_domu() {
    local t0 log=/var/log/xen/console/guest-domU.log waited=0
    t0=$(uptime_s)
    mark "XL-CREATE domU"
    xl create /root/domU.cfg
    mark "XL-CREATE-DONE domU $(since "$t0")s"
    DOMU_ID=$(xl domid domU)
    until grep -q DOMU-BYE "$log" 2>/dev/null; do
        if [ "$waited" -ge $((DOMU_WAIT * 2)) ]; then
            echo "domU printed nothing in ${DOMU_WAIT}s; its console log:"
            sed 's/^/domU| /' "$log" 2>/dev/null || true
            return 1
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    sed 's/^/domU| /' "$log"
    mark "DOMU-READY domid=$DOMU_ID $(since "$t0")s after xl create"
}

# The project's Debian package, when the image carries one, installed as on a
# host before any scenario uses its programs. dom0 has no package database:
# the libraries the package depends on are in the image (copied with the
# programs that need them), so dpkg is told not to check its Depends.
install_package() {
    local deb t0
    for deb in "$SHARE"/packages/*.deb; do
        [ -f "$deb" ] || continue
        t0=$(uptime_s)
        if ! dpkg --force-depends -i "$deb" >/tmp/dpkg-install.log 2>&1; then
            cat /tmp/dpkg-install.log
            return 1
        fi
        grep -v -e '^ ' -e 'depends on' /tmp/dpkg-install.log
        mark "PACKAGE-INSTALLED $(dpkg-query -W -f='${Package} ${Version}' "$(dpkg-deb -f "$deb" Package)") dpkg -i $(since "$t0")s"
    done
}

# Prefixes each line as soon as it arrives (sed would hold every line until
# the next one comes, to know whether it is the last).
prefix() {
    local line
    while IFS= read -r line; do echo "$1$line"; done
}

selected() {
    local name=$1 only
    only=$(sed -n 's/.*xenvhost\.scenarios=\([^ ]*\).*/\1/p' /proc/cmdline)
    [ -z "$only" ] && return 0
    case ":$only:" in *":$name:"*) return 0 ;; esac
    return 1
}

# A scenario may ask for a longer limit than SCENARIO_TIMEOUT with a line
# "# scenario-timeout: SECONDS" (an HVM guest boots through firmware and
# decompresses its kernel under TCG).
scenario_timeout() {
    local t
    t=$(sed -n 's/^# scenario-timeout: \([0-9][0-9]*\)$/\1/p' "$1" | head -n 1)
    echo "${t:-$SCENARIO_TIMEOUT}"
}

run_scenarios() {
    local s name t0 rc status pass=0 fail=0
    mark "SCENARIOS-START"
    for s in "$SHARE"/scenarios/*.sh; do
        [ -x "$s" ] || continue
        name=$(basename "$s" .sh)
        selected "$name" || continue
        echo "SCENARIO-BEGIN $name"
        t0=$(uptime_s)
        rc=0
        DOMU_ID=$DOMU_ID timeout "$(scenario_timeout "$s")" "$s" 2>&1 | prefix "[$name] " || rc=$?
        if [ "$rc" -eq 0 ]; then
            status=PASS
            pass=$((pass + 1))
        else
            status=FAIL
            fail=$((fail + 1))
        fi
        echo "SCENARIO $name $status $(since "$t0")"
    done
    mark "SCENARIOS-DONE pass=$pass fail=$fail"
}

# Destroys the guest and checks that only dom0 is left.
stop_domu() {
    xl destroy domU
    mark "XL-DESTROY rc=0"
    xl list
    local domains
    domains=$(xl list | tail -n +2 | wc -l)
    if [ "$domains" -ne 1 ]; then
        echo "domains left besides dom0: $((domains - 1))"
        return 1
    fi
}

main() {
    mount_filesystems
    mark "DOM0-SHELL-READY $(uname -r)"
    start_xen_devices
    start_toolstack
    install_package
    if grep -qw nodomu /proc/cmdline; then
        mark "NODOMU: no guest, no scenarios"
    elif grep -qw 'xenvhost\.demo' /proc/cmdline; then
        mark "DEMO: no test guest"
        DOMU_ID=
        export DOMU_ID
        run_scenarios
    else
        start_domu
        export DOMU_ID
        run_scenarios
        stop_domu
    fi
    mark "XEN-TEST-DONE"
}

main
