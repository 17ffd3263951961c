#!/usr/bin/env bash
# Boots Xen 4.17 + the dom0 built by `make xen-images` under QEMU TCG, follows
# the serial console, prints a transcript with host wall-clock times and a
# summary, and passes only if dom0 finished (XEN-TEST-DONE) and every
# selected scenario printed PASS.
#
#   run.sh IMAGES_DIR SCENARIO_DIR
#
# Knobs (environment; tests/xen/rules.mk documents them): XEN_TIMEOUT,
# XEN_INTERACTIVE, XEN_QEMU_CPU, XEN_QEMU_MEM, XEN_QEMU_SMP, XEN_QEMU_ACCEL, XEN_ARGS,
# XEN_DOM0_ARGS, XEN_SCENARIOS.
set -euo pipefail

(($# == 2)) || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
images=$1
scenario_dir=$2
timeout_s=${XEN_TIMEOUT:-1800}
# Under TCG only qemu64,+svm runs Xen's PV dom0; -cpu max crashes it. +npt
# gives Xen hardware-assisted paging, without which it cannot run HVM guests.
cpu=${XEN_QEMU_CPU:-qemu64,+svm,+npt}
mem=${XEN_QEMU_MEM:-3G}
smp=${XEN_QEMU_SMP:-2}
accel=${XEN_QEMU_ACCEL:-tcg}
xen_args=${XEN_ARGS:-console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=1 loglvl=all guest_loglvl=all console_timestamps=boot bootscrub=0}
dom0_args="console=hvc0 earlyprintk=xen rdinit=/init loglevel=4 ${XEN_DOM0_ARGS:-}"
if [[ -n ${XEN_SCENARIOS:-} ]]; then
    # ':'-separated: a comma would split QEMU's multiboot module list.
    [[ $XEN_SCENARIOS =~ ^[A-Za-z0-9_.:-]+$ ]] || { echo "XEN_SCENARIOS: names separated by ':'" >&2; exit 2; }
    dom0_args+=" xenvhost.scenarios=$XEN_SCENARIOS"
fi
[[ $timeout_s =~ ^[0-9]+$ ]] || { echo "XEN_TIMEOUT must be a number of seconds" >&2; exit 2; }
for f in xen vmlinux dom0.cpio.gz; do
    [[ -f $images/$f ]] || { echo "missing $images/$f (make xen-images)" >&2; exit 2; }
done

# The multiboot Xen image takes dom0's kernel and initramfs as modules,
# each "path [command line]". dom0's kernel is the uncompressed ELF: Xen
# would otherwise spend seconds of TCG time decompressing xz.
qemu=(qemu-system-x86_64 -accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp" -no-reboot
    -kernel "$images/xen" -append "$xen_args"
    -initrd "$images/vmlinux $dom0_args,$images/dom0.cpio.gz")

if [[ ${XEN_INTERACTIVE:-0} == 1 ]]; then
    qemu[-1]="$images/vmlinux $dom0_args shell,$images/dom0.cpio.gz"
    echo "dom0 shell on this terminal; quit with Ctrl-a x or poweroff -f"
    exec "${qemu[@]}" -nographic -serial mon:stdio
fi

# Scenarios the run must report as passed.
expected=()
for s in "$scenario_dir"/*.sh; do
    [[ -x $s ]] || continue
    name=$(basename "$s" .sh)
    if [[ -n ${XEN_SCENARIOS:-} && ":$XEN_SCENARIOS:" != *":$name:"* ]]; then continue; fi
    expected+=("$name")
done

run=$(mktemp -d "$images/run.XXXXXX")
log=$run/serial.log
: >"$log"
qpid=
cleanup() {
    if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    cp "$log" "$images/last-serial.log" 2>/dev/null || true
    rm -rf "$run"
}
trap cleanup EXIT

start_us=${EPOCHREALTIME/./}
"${qemu[@]}" -display none -monitor none -serial "file:$log" </dev/null >"$run/qemu.out" 2>&1 &
qpid=$!

# Host seconds since QEMU started, one decimal.
now() {
    local d=$(( (${EPOCHREALTIME/./} - start_us) / 100000 ))
    printf '%d.%d' $((d / 10)) $((d % 10))
}

# Markers whose first appearance is timed: "pattern|label".
markers=(
    "Xen version|Xen banner"
    "Linux version|dom0 kernel started"
    "DOM0-SHELL-READY|dom0 init running"
    "xenstored started|xenstored started"
    "TOOLSTACK-READY|toolstack ready (xl list, xl info)"
    "XL-CREATE domU|xl create domU started"
    "XL-CREATE-DONE|xl create domU returned"
    "DOMU-READY|domU init ran (seen in its console log)"
    "SCENARIOS-START|scenarios started"
    "SCENARIOS-DONE|scenarios done"
    "XL-DESTROY|domU destroyed"
    "XEN-TEST-DONE|dom0 done"
    "DOM0-MAIN-FAILED|dom0 sequence FAILED"
)
declare -A seen=()
declare -A result=() took=()
# Xen's own lines are shown only when they matter.
xen_shown='Xen version|[Cc]rash|[Pp]anic|FATAL|Unhandled|call trace|Fatal'
shown=0

handle_line() {
    local line=${1//$'\r'/} t
    t=$(now)
    if [[ $line == '(XEN)'* ]]; then
        [[ $line =~ $xen_shown ]] || { check_markers "$line" "$t"; return 0; }
    fi
    printf '[%6ss] %s\n' "$t" "$line"
    check_markers "$line" "$t"
    if [[ $line =~ ^SCENARIO\ ([^ ]+)\ (PASS|FAIL)\ ([0-9.]+)$ ]]; then
        result[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
        took[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
    fi
}

check_markers() {
    local m pat
    for m in "${markers[@]}"; do
        pat=${m%%|*}
        if [[ -z ${seen[$pat]:-} && $1 == *"$pat"* ]]; then seen[$pat]=$2; fi
    done
}

# Prints the serial lines not shown yet; with "all", the last partial one too.
follow() {
    local n line
    n=$(wc -l <"$log")
    if ((n > shown)); then
        while IFS= read -r line; do handle_line "$line"; done < <(sed -n "$((shown + 1)),${n}p" "$log")
        shown=$n
    fi
    if [[ ${1:-} == all ]]; then
        line=$(tail -n +"$((shown + 1))" "$log")
        [[ -z $line ]] || handle_line "$line"
    fi
}

echo "=== Xen test: QEMU -accel $accel -cpu $cpu -m $mem -smp $smp, timeout ${timeout_s}s"
echo "=== serial transcript (host seconds since QEMU start; Xen's own lines filtered)"
outcome=timeout
while :; do
    alive=1
    kill -0 "$qpid" 2>/dev/null || alive=0
    follow
    if [[ -n ${seen[XEN-TEST-DONE]:-} || -n ${seen[DOM0-MAIN-FAILED]:-} ]]; then
        # dom0 powers off next; give QEMU a moment to exit by itself.
        for _ in $(seq 1 60); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.5; done
        follow all
        outcome=finished
        break
    fi
    if ((!alive)); then
        follow all
        outcome="qemu-exited"
        break
    fi
    if (( (${EPOCHREALTIME/./} - start_us) / 1000000 >= timeout_s )); then
        follow all
        break
    fi
    sleep 0.5
done
if kill -0 "$qpid" 2>/dev/null; then
    kill "$qpid" 2>/dev/null || true
    wait "$qpid" 2>/dev/null || true
    qemu_end="killed at $(now)"
else
    wait "$qpid" 2>/dev/null || true
    qemu_end="exited at $(now)"
fi
qpid=

echo "=== timeline (host seconds since QEMU start)"
for m in "${markers[@]}"; do
    pat=${m%%|*}
    [[ -n ${seen[$pat]:-} ]] && printf '%8s s  %s\n' "${seen[$pat]}" "${m#*|}"
done
echo "         QEMU $qemu_end s"

# Phase lengths from two markers, when both were seen.
phase() {
    local label=$1 from=$2 to=$3
    [[ -n ${seen[$from]:-} && -n ${seen[$to]:-} ]] || return 0
    printf '%8.1f s  %s\n' "$(bc <<<"${seen[$to]} - ${seen[$from]}")" "$label"
}
echo "=== phases"
seen[QEMU-START]=0.0
phase "boot: QEMU start to toolstack ready" QEMU-START TOOLSTACK-READY
phase "  Xen, up to dom0's kernel" QEMU-START "Linux version"
phase "  dom0 kernel, up to /init" "Linux version" DOM0-SHELL-READY
phase "  Xen devices, xenstored, xenconsoled, xl list/info" DOM0-SHELL-READY TOOLSTACK-READY
phase "xl create domU (building the PV domain)" "XL-CREATE domU" XL-CREATE-DONE
phase "domU boot, up to its init" XL-CREATE-DONE DOMU-READY
phase "scenarios" SCENARIOS-START SCENARIOS-DONE
phase "domU destroy and dom0 finish" SCENARIOS-DONE XEN-TEST-DONE

echo "=== scenarios (dom0 seconds)"
failed=0
for name in "${expected[@]}"; do
    status=${result[$name]:-MISSING}
    printf '  %-45s %-7s %s\n' "$name" "$status" "${took[$name]:-}"
    [[ $status == PASS ]] || failed=$((failed + 1))
done
for name in "${!result[@]}"; do
    if [[ " ${expected[*]} " != *" $name "* ]]; then
        printf '  %-45s %-7s %s (not in %s)\n' "$name" "${result[$name]}" "${took[$name]}" "$scenario_dir"
        [[ ${result[$name]} == PASS ]] || failed=$((failed + 1))
    fi
done

echo "=== serial log: $images/last-serial.log"
if [[ $outcome == timeout ]]; then
    echo "FAIL: no XEN-TEST-DONE within ${timeout_s}s"
    exit 1
fi
if [[ -z ${seen[XEN-TEST-DONE]:-} ]]; then
    echo "FAIL: dom0 did not finish its sequence ($outcome)"
    sed 's/^/qemu: /' "$run/qemu.out" 2>/dev/null || true
    exit 1
fi
if ((failed)); then
    echo "FAIL: $failed scenario(s) did not pass"
    exit 1
fi
echo "PASS: ${#expected[@]} scenario(s), total $(now) s"
