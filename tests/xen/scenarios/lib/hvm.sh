# shellcheck shell=bash
# Helpers for the scenarios with an HVM test guest (sourced after common.sh).
# The guest (tests/xen/hvm-guest/init) is Debian's kernel and an initramfs
# on a boot disk the project serves (hvmloader, SeaBIOS, syslinux); the
# firmware writes to an emulated UART (qemu-xen logs it to SERIAL.uart), the
# guest's kernel to its Xen PV console (hvc0, logged by xenconsoled, SERIAL
# links to that log); it checks its disks, prints GUEST-* lines there and
# powers off (or stays).

# Under the nested SVM of QEMU TCG an HVM guest dies now and then by a
# triple fault right after a VM exit: Xen logs "dNvM Triple fault" and the
# guest's saved state is Xen's own (a RIP just past its VMRUN) or just past
# an instruction that exits (rdtsc, an MMIO read). See tests/xen/README.md.
# hvm_wait_for stops at once when the guest has shut down; if Xen logged a
# triple fault it exits with HVM_ENV_FAULT, and hvm_with_retry runs the
# whole scenario once more, saying so. Any other failure, a second triple
# fault, or a triple fault after xenvhost logged a fault of its own (a
# device refused or broken: a guest whose boot disk fails jumps into
# nothing and triple-faults too) fails the scenario.
HVM_ENV_FAULT=75

# Skips (exit 0) unless dom0's kernel command line has `xenvhost.hvm`: the
# xen-hvm level (make test-xen-hvm) boots Xen for this scenario alone with
# one emulated CPU and that word; the xen level's run, with two CPUs, skips
# it (with two, the environment's triple faults failed 3 of 7 attempts on
# one day).
hvm_opt_in() {
    if ! grep -qw 'xenvhost\.hvm' /proc/cmdline; then
        echo "SKIP: the HVM guest scenario runs in the xen-hvm level (make test-xen-hvm), with dom0 word xenvhost.hvm"
        exit 0
    fi
}

# What xenvhost's processes log when they refuse or break a device: a
# scenario defines hvm_own_faults (printing such lines from its logs) and
# hvm_require_running does not take a triple fault after them for the
# environment's.
# shellcheck disable=SC2034  # read by the scenarios' hvm_own_faults
HVM_OWN_FAULTS='device broken|refused: |queue stopped|differs through a new mapping|cannot deprivilege'

# Runs the scenario script $0 as a child (HVM_ATTEMPT=1); after an exit
# with HVM_ENV_FAULT, once more (HVM_ATTEMPT=2). Exits with the last
# attempt's status (HVM_ENV_FAULT counts as a failure). Returns at once in
# the child.
hvm_with_retry() {
    [ -z "${HVM_ATTEMPT:-}" ] || return 0
    local rc=0
    HVM_ATTEMPT=1 "$0" "$@" || rc=$?
    if [ "$rc" -eq "$HVM_ENV_FAULT" ]; then
        echo "RETRY: attempt 1 ended by a triple fault of the guest (Xen's log above) with no fault logged by xenvhost;"
        echo "RETRY: the nested SVM of QEMU TCG causes these now and then; running the whole scenario once more"
        echo "FIGURES environment: triple faults of the HVM guest in this scenario: 1"
        rc=0
        HVM_ATTEMPT=2 "$0" "$@" || rc=$?
    fi
    [ "$rc" -ne "$HVM_ENV_FAULT" ] || echo "FAIL: the guest died by a triple fault in both attempts"
    [ "$rc" -eq 0 ] || exit 1
    exit 0
}

HVM_MIB=$((1 << 20))

# Fails unless Xen can run HVM guests (hardware-assisted paging: QEMU's
# -cpu needs +svm,+npt; Debian's Xen has no shadow paging).
hvm_require_hap() {
    local caps
    caps=$(xl info | sed -n 's/^virt_caps *: *//p')
    case " $caps " in *" hvm "*) ;; *) caps+=" (no hvm)" ;; esac
    case " $caps " in *" hap "*) ;; *) caps+=" (no hap)" ;; esac
    case $caps in
        *"(no "*) die "Xen cannot run HVM guests (virt_caps: $caps); QEMU needs -cpu qemu64,+svm,+npt" ;;
    esac
    echo "xl info virt_caps: $caps"
}

# Makes IMAGE of MIB MiB whose first MiB holds the pattern SEED (the guest's
# `read` check reads it back through its driver).
hvm_image() {
    local image=$1 mib=$2 seed=$3
    rm -f "$image"
    truncate -s "${mib}M" "$image"
    xen-hvm-blkio fill "$image" 0 "$HVM_MIB" "$seed" >/dev/null || die "could not fill $image"
}

# The guest boots from this disk (see hvm_boot_disk): qemu-xen's direct
# kernel boot hands the kernel over through its fw_cfg port a byte at a
# time (no fw_cfg DMA on Xen), which under TCG did not reach the guest's
# init within 10 minutes.
HVM_BOOT_IMAGE=/root/hvm-boot.img

# Copies the boot disk (syslinux, the guest's kernel and initramfs) to IMG
# with the kernel words EXTRA. Served read-only by the project as the
# guest's first virtio disk, SeaBIOS boots it: the kernel then comes in
# through the device model and the worker by DMA instead of qemu-xen's
# byte-at-a-time fw_cfg reads.
hvm_boot_disk() {
    local img=$1 extra=$2
    cp "$HVM_BOOT_IMAGE" "$img" || die "no boot disk $HVM_BOOT_IMAGE"
    # SERIAL: syslinux says on the UART what it loads (a stall while
    # SeaBIOS reads the disk shows there).
    # console=hvc0: the kernel polls an emulated UART for every byte, two
    # VM exits to qemu-xen each, and under QEMU TCG's nested SVM the
    # guest's rare triple faults come right after VM exits; the PV console
    # takes a line per event-channel notification.
    # printk.devkmsg=on: the init's lines go through /dev/kmsg unthrottled.
    printf 'SERIAL 0 115200\nDEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd %s\n' \
        "console=hvc0 rdinit=/init loglevel=3 printk.devkmsg=on $extra" >"$img.cfg"
    mcopy -o -i "$img" "$img.cfg" ::syslinux.cfg || die "cannot write the boot disk's syslinux.cfg"
    rm -f "$img.cfg"
}

# Writes the xl config CFG of HVM guest NAME: booted from its first disk
# (hvm_boot_disk holds its kernel words), no graphics, qemu-xen; each
# further argument is one disk specification. SERIAL becomes a link to
# xenconsoled's log of the guest's PV console (emptied first: a retry
# reuses the name); the firmware's UART goes to SERIAL.uart.
# tsc_mode native: Xen would otherwise trap every RDTSC of a guest whose
# (emulated) CPU has no invariant TSC, and under the nested SVM of QEMU TCG
# the guest died by a triple fault right after such an exit (its RIP just
# past an rdtsc, in pvclock_clocksource_read and in early boot).
hvm_config() {
    local cfg=$1 name=$2 serial=$3 disks='' d
    shift 3
    for d in "$@"; do disks+="${disks:+, }'$d'"; done
    local console_log=/var/log/xen/console/guest-$name.log
    rm -f "$console_log" "$serial" "$serial.uart"
    ln -s "$console_log" "$serial"
    cat >"$cfg" <<CFG
name = "$name"
type = "hvm"
memory = 256
vcpus = 1
boot = "c"
serial = "file:$serial.uart"
vga = "none"
vnc = 0
sdl = 0
nographic = 1
device_model_version = "qemu-xen"
tsc_mode = "native"
disk = [ $disks ]
on_poweroff = "destroy"
on_reboot = "destroy"
on_crash = "destroy"
CFG
}

# Shows qemu-xen's log of guest NAME (libxl writes it there).
hvm_show_dm_log() {
    local log=/var/log/xen/qemu-dm-$1.log
    if [ -s "$log" ]; then sed 's/^/  qemu-dm| /' "$log"; fi
}

# The guest's console lines, without the UART's carriage returns.
# The guest's init prints through the kernel log (whole lines, never cut
# by other kernel messages), so its lines carry the kernel's timestamp,
# and the first may follow the firmware's last text on the same line:
# every timestamp starts a line.
hvm_lines() { tr -d '\r' <"$1" 2>/dev/null | sed 's/\[ *[0-9]*\.[0-9]*\] /\n/g' || true; }
# The last lines the firmware (SeaBIOS, syslinux) wrote on the UART.
hvm_show_firmware() {
    tr -d '\r' <"$1.uart" 2>/dev/null | tail -n "${2:-8}" | sed 's/^/  firmware| /' || true
}
# PATTERN anchored with ^ also matches after a timestamp (one grep: this is
# polled).
hvm_has() { grep -qE -- "(^|\] )${2#^}" "$1" 2>/dev/null; }

# The domain id hvm_wait_for watches (set by the scenario once it exists).
HVM_DOMID=

# The state letters xl list shows for domain $1 (empty once it is gone).
hvm_state() { xl list | awk -v d="$1" 'NR > 1 && $2 == d { print $5 }'; }

# Fails the scenario at once if the guest HVM_DOMID has shut down or gone:
# with HVM_ENV_FAULT if Xen logged a triple fault for it.
hvm_require_running() {
    [ -n "$HVM_DOMID" ] || return 0
    local state
    state=$(hvm_state "$HVM_DOMID")
    case "$state" in
        "" | *s* | *c* | *d*) ;;
        *) return 0 ;;
    esac
    if xl dmesg 2>/dev/null | grep -q "d${HVM_DOMID}v[0-9]* Triple fault"; then
        echo "FAIL: the guest (domain $HVM_DOMID, state '${state:-gone}') died by a triple fault:"
        xl dmesg | grep -E "d${HVM_DOMID}v[0-9]* (Triple fault|.*emulation failed)" | sed 's/^/  xen| /'
        local own=
        if declare -F hvm_own_faults >/dev/null; then own=$(hvm_own_faults || true); fi
        if [ -n "$own" ]; then
            echo "FAIL: xenvhost logged faults before it (so no retry):"
            head -n 5 <<<"$own" | sed 's/^/  /'
            exit 1
        fi
        exit "$HVM_ENV_FAULT"
    fi
    die "the guest (domain $HVM_DOMID) is no longer running: state '${state:-gone}'"
}

# Waits up to LIMIT s for PATTERN in SERIAL, saying every 30 s how far the
# guest is (its CPU time, its console's size and last line); stops at once
# if the guest has shut down (checked every 10 s); on a timeout shows the
# console.
hvm_wait_for() {
    local serial=$1 pattern=$2 limit=$3 t0 left n=0
    t0=$(uptime_s)
    left=$limit
    until wait_until "$((left < 10 ? left : 10))" hvm_has "$serial" "$pattern"; do
        left=$(awk -v l="$limit" -v s="$(since "$t0")" 'BEGIN { printf "%d", l - s }')
        if [ "$left" -le 0 ]; then
            echo "the guest's console so far:"
            hvm_lines "$serial" | tail -n 60 | sed 's/^/  guest| /'
            die "no '$pattern' on the guest's console within $limit s"
        fi
        hvm_require_running
        n=$((n + 1))
        [ $((n % 3)) -eq 0 ] || continue
        echo "waiting for '$pattern' $(since "$t0") s: guest cpu $(xl list | awk 'NR > 2 { t = $6 } END { print t }') s," \
            "console $(wc -c <"$serial" 2>/dev/null || echo 0) bytes, last: $(hvm_lines "$serial" | tail -n 1 | cut -c1-100)"
    done
}

# Uptime of the guest at the first line starting with WORD (its uptime= field).
hvm_guest_uptime() { hvm_lines "$1" | sed -n "s/^$2 .*uptime=\\([0-9.]*\\).*/\\1/p" | head -n 1; }

# Shows the guest's console: the kernel's lines about disks, the PCI bus,
# the checks, the figures.
hvm_show_console() {
    hvm_lines "$1" | grep -E '^GUEST-' | sed 's/^/  guest| /'
}

# Fails unless every GUEST-CHECK passed and each named check is there.
hvm_require_pass() {
    local serial=$1 lines name failed
    shift
    lines=$(hvm_lines "$serial" | grep '^GUEST-CHECK ' || true)
    failed=$(grep -v '^GUEST-CHECK [^ ]* PASS' <<<"$lines" || true)
    [ -z "$failed" ] || die "guest checks failed: $(tr '\n' '|' <<<"$failed")"
    for name in "$@"; do
        grep -q "^GUEST-CHECK $name PASS" <<<"$lines" || die "the guest did not report check $name"
    done
    echo "guest checks: $(grep -c . <<<"$lines") PASS (required: $*)"
}

# Compares IMAGE with what the guest says it left on disk ROLE: each
# "GUEST-WROTE ROLE OFFSET LENGTH seed=N" range must hold pattern N byte
# for byte, each "... md5=X" range must have that md5.
hvm_compare_image() {
    local serial=$1 role=$2 image=$3 line off len what n=0 sum
    local -a f
    while IFS= read -r line; do
        read -r -a f <<<"$line"
        off=${f[2]}
        len=${f[3]}
        what=${f[4]}
        case $what in
            seed=*)
                xen-hvm-blkio check "$image" "$off" "$len" "${what#seed=}" >/dev/null ||
                    die "$image at $off+$len does not hold the guest's pattern ${what#seed=}"
                ;;
            md5=*)
                sum=$(dd if="$image" bs="$HVM_MIB" skip=$((off / HVM_MIB)) count=$((len / HVM_MIB)) 2>/dev/null |
                    md5sum | cut -d' ' -f1)
                [ "$sum" = "${what#md5=}" ] || die "$image at $off+$len has md5 $sum, the guest read ${what#md5=}"
                ;;
            *) die "unreadable GUEST-WROTE line: $line" ;;
        esac
        n=$((n + 1))
    done <<<"$(hvm_lines "$serial" | grep "^GUEST-WROTE $role " || true)"
    [ "$n" -gt 0 ] || die "the guest reported nothing written on its $role disk"
    echo "$image: the $n range(s) the guest reported writing on $role match byte for byte"
}

# Prints the guest's figures (GUEST-PERF) and, with two roles, their ratio.
hvm_show_perf() {
    hvm_lines "$1" | grep '^GUEST-PERF ' | sed 's/^GUEST-PERF /FIGURES guest /' || true
}

hvm_domain_gone() { ! xl domid "$1"; }
hvm_domid_unlisted() { ! xl list | awk 'NR > 1 { print $2 }' | grep -qx "$1"; }

# Waits up to LIMIT s for the domain NAME to be gone (the guest powers off
# itself: on_poweroff = destroy); destroys it after that.
hvm_wait_gone() {
    local name=$1 limit=$2
    if ! wait_until "$limit" hvm_domain_gone "$name"; then
        echo "domain $name still there after $limit s: destroying it"
        xl destroy "$name" || true
    fi
}

# Fails if anything of guest DOMID is left: the domain (also as a dying
# domain, which is what foreign mappings kept by a process would leave), its
# xenstore directory, or a qemu-xen device model for it.
hvm_require_nothing_left() {
    local domid=$1
    wait_until 20 hvm_domid_unlisted "$domid" || die "domain $domid is still listed by xl list: $(xl list | tr '\n' '|')"
    if xenstore-exists "/local/domain/$domid"; then die "/local/domain/$domid is still there"; fi
    wait_until 20 hvm_no_qemu_for "$domid" || die "qemu-xen of domid $domid is still running"
}

# No qemu-xen runs for DOMID. Bash builtins only (dom0 has no pgrep, and a
# process start per /proc entry costs seconds under TCG).
hvm_no_qemu_for() {
    local f
    local -a args
    for f in /proc/[0-9]*/cmdline; do
        mapfile -d '' -t args <"$f" 2>/dev/null || continue
        case "${args[0]:-}" in *qemu-system-i386*) ;; *) continue ;; esac
        case " ${args[*]} " in *" -xen-domid $1 "*) return 1 ;; esac
    done
    return 0
}

# Where each thread of process $1 waits, from the kernel's view: state,
# wait channel, the system call it is in (number and first arguments) and
# its kernel stack. A stalled guest's device model or worker shows here
# whether it is blocked, and on what.
hvm_show_threads() {
    local pid=$1 label=$2 t comm stat sc wchan
    [ -d "/proc/$pid" ] || { echo "  $label: pid $pid is gone"; return 0; }
    for t in /proc/"$pid"/task/*; do
        read -r comm <"$t/comm" 2>/dev/null || comm="?"
        read -r stat <"$t/stat" 2>/dev/null || stat=
        stat=${stat##*) }
        read -r sc <"$t/syscall" 2>/dev/null || sc="?"
        read -r wchan <"$t/wchan" 2>/dev/null || wchan="?"
        echo "  $label thread ${t##*/} ($comm): state ${stat%% *}, wchan $wchan, syscall ${sc% * * *}"
        sed 's/^/      /' "$t/stack" 2>/dev/null | head -n 12 || true
    done
}

# A guest that crashes (a triple fault is a reboot to Xen) is kept, paused,
# so that hvm_show_crash can read its registers.
hvm_preserve_on_crash() {
    sed -i 's/^on_reboot = .*/on_reboot = "preserve"/; s/^on_crash = .*/on_crash = "preserve"/' "$1"
}

# Domain $1's vCPU state, with the guest kernel's symbols; if it has shut
# down (crashed, or reset by a triple fault), Xen's reason first.
hvm_show_crash() {
    local domid=$1 state
    state=$(xl list | awk -v d="$domid" 'NR > 1 && $2 == d { print $5 }')
    case "$state" in
        *s* | *c*) echo "  the guest (domain $domid) has shut down: state $state" ;;
        *) echo "  the guest (domain $domid) runs (state $state); where its vCPU is now:" ;;
    esac
    xl dmesg 2>/dev/null | grep -E "d${domid}v[0-9]+ (Triple fault|.*crash)|Domain ${domid} .*(crash|shut)" | sed 's/^/  xen| /' || true
    # The guest runs dom0's kernel, booted nokaslr, and a PV dom0 is not
    # randomized: dom0's own symbol table names the guest's functions.
    /usr/lib/xen-4.17/bin/xenctx -s /proc/kallsyms -a -S -C "$domid" 2>&1 | head -n 80 | sed 's/^/  xenctx| /' || true
}
