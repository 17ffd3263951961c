#!/usr/bin/env bash
# make demo: the real Xen 4.17 hypervisor boots under QEMU with xenvhost
# installed in dom0 from its Debian package (dpkg -i), and dom0 runs the Xen level's scenario
# 60-hvm-guest-demo alone (kernel word xenvhost.demo: no PV test guest):
# xenvhostd started, a stock Debian HVM guest created through
# xenvhost-create with two virtio disks that xenvhost serves, SeaBIOS booting
# it from the first, the guest's own virtio_blk driver writing and reading
# the second, xenvhost-status and the status keys while it runs, xl destroy
# and nothing left, the image checked. Prints each step with its duration;
# the full transcript and dom0's serial console go to files under IMAGES_DIR.
#
#   demo.sh IMAGES_DIR SCENARIO_DIR
#
# Knobs as for run.sh (XEN_TIMEOUT, XEN_QEMU_*, XEN_ARGS); tests/xen/rules.mk
# builds the images first. DEMO_SCENARIO=40-installed-service shows the
# installed systemd service with a PV guest instead.
set -euo pipefail

(($# == 2)) || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
images=$1
scenario_dir=$2
here=$(dirname "${BASH_SOURCE[0]}")
scenario=${DEMO_SCENARIO:-60-hvm-guest-demo}
transcript=$images/demo-transcript.log
serial=$images/demo-serial.log
[[ -x $scenario_dir/$scenario.sh ]] || { echo "demo: $scenario_dir/$scenario.sh is missing" >&2; exit 2; }

cat <<INTRO
xenvhost demo: the real Xen hypervisor under $(qemu-system-x86_64 --version | head -n 1 | cut -d'(' -f1)(TCG, no KVM),
a Debian PV dom0 with xenvhost installed from its Debian package by dpkg; a stock Debian HVM guest
boots from a virtio disk that xenvhost serves and its own virtio_blk driver uses a second one.
  left column: host seconds since QEMU started; then each step's own duration.

INTRO

# ---------------------------------------------------------------- transcript
declare -A label=(
    [package]="package installed"
    [purge]="dpkg --purge"
    [reinstall]="dpkg -i again"
    [service]="xenvhostd started, ready"
    [boot]="guest booted"
    [guest]="guest's own driver"
    [image]="image checked"
    [create]="xenvhost-create"
    [status]="xenvhost-status"
    [keys]="status keys (xenstore)"
    [data]="data via grant mappings"
    [destroy]="xl destroy"
    [worker-gone]="worker gone"
    [stop]="service stopped"
)
prev_t=0
shows=()

# One transcript line: host time, label, duration, then TEXT folded below.
line() {
    local t=$1 what=$2 took=$3 text=${4:-}
    printf '[%6s s]  %-26s %8s\n' "$t" "$what" "$took"
    if [[ -n $text ]]; then fold -s -w 88 <<<"$text" | sed 's/^/              /'; fi
    local s
    for s in "${shows[@]}"; do printf '              | %s\n' "$s"; done
    shows=()
}
# Sets took to the host time since the previous transcript line.
took=
host_step() {
    took=$(printf '%.1f s' "$(bc <<<"$1 - $prev_t")")
    prev_t=$1
}

filter() {
    local raw t rest name secs text=
    while IFS= read -r raw; do
        if [[ $raw =~ ^\[\ *([0-9.]+)s\]\ (.*)$ ]]; then
            t=${BASH_REMATCH[1]}
            rest=${BASH_REMATCH[2]}
        else
            case $raw in
                PASS:* | FAIL:*) echo "$raw" >"$images/demo-result" ;;
            esac
            continue
        fi
        case $rest in
            "(XEN) "*"Xen version "*)
                text=${rest#*Xen version }
                host_step "$t"; line "$t" "Xen started" "$took" "Xen ${text%% (*}" ;;
            *"] Linux version "*)
                text=${rest#*Linux version }
                host_step "$t"; line "$t" "dom0 kernel started" "$took" "Linux ${text%% *}, PV" ;;
            *" DOM0-SHELL-READY"*)
                host_step "$t"; line "$t" "dom0 up (its init runs)" "$took" ;;
            *" TOOLSTACK-READY"*)
                host_step "$t"; line "$t" "toolstack up" "$took" "xenstored, xen-init-dom0, xenconsoled, xl" ;;
            *" PACKAGE-INSTALLED "*)
                text=${rest#* PACKAGE-INSTALLED }
                host_step "$t"; line "$t" "xenvhost installed" "$took" "dpkg -i: ${text% dpkg -i *}" ;;
            "[$scenario] SHOW "*)
                shows+=("${rest#"[$scenario] SHOW "}") ;;
            "[$scenario] STEP "*)
                read -r _ _ name secs text <<<"$rest"
                prev_t=$t
                line "$t" "${label[$name]:-$name}" "$secs s" "$text" ;;
            "[$scenario] RETRY: "*)
                echo "              ${rest#"[$scenario] "}" ;;
            "[$scenario] FAIL: "*)
                echo "              FAILED: ${rest#"[$scenario] FAIL: "}" ;;
            "SCENARIO $scenario "*)
                echo "              (dom0 ran the sequence in ${rest##* } s)" ;;
            *" XEN-TEST-DONE"*)
                host_step "$t"; line "$t" "dom0 done, powering off" "$took" ;;
            *"DOM0-MAIN-FAILED"*)
                echo "              FAILED: dom0's sequence failed" ;;
        esac
    done
}

start_s=$SECONDS
rm -f "$images/demo-result"
set +e
# One emulated CPU, as the xen-hvm level: the HVM guest's triple faults under
# nested SVM came with two (tests/xen/README.md).
XEN_SCENARIOS=$scenario XEN_DOM0_ARGS="xenvhost.demo ${XEN_DOM0_ARGS:-}" XEN_QEMU_SMP=${XEN_QEMU_SMP:-1} \
    bash "$here/run.sh" "$images" "$scenario_dir" 2>&1 | tee "$transcript" | filter
rc=${PIPESTATUS[0]}
set -e
cp "$images/last-serial.log" "$serial" 2>/dev/null || true
result=$(cat "$images/demo-result" 2>/dev/null || echo "FAIL: run.sh printed no result")
rm -f "$images/demo-result"

echo
echo "total: $((SECONDS - start_s)) s from QEMU start to power-off"
echo "full transcript: $transcript"
echo "dom0 serial console: $serial"
if ((rc == 0)) && [[ $result == PASS:* ]]; then
    echo "demo result: PASS"
else
    echo "demo result: FAIL ($result); see the full transcript"
    exit 1
fi
