#!/bin/bash
# The Xen level's HVM helpers (tests/xen/scenarios/lib/hvm.sh) that decide
# whether a scenario runs again: hvm_require_running tells a guest killed by
# a triple fault (exit HVM_ENV_FAULT) from any other end of the guest (a
# plain failure), and hvm_with_retry runs a scenario a second time only
# after HVM_ENV_FAULT, and never a third. `xl` is a stand-in script here:
# its `list` and `dmesg` print what each case sets.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

new_work
lib=$repo/tests/xen/scenarios/lib
mkdir -p "$work/bin"
cat >"$work/bin/xl" <<'XL'
#!/bin/bash
case $1 in
    list) cat "$FAKE_XL_LIST" ;;
    dmesg) cat "$FAKE_XL_DMESG" ;;
    *) exit 1 ;;
esac
XL
chmod +x "$work/bin/xl"
export PATH=$work/bin:$PATH FAKE_XL_LIST=$work/list FAKE_XL_DMESG=$work/dmesg

listing() {  # STATE of domain 7, or none
    printf 'Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 1 r----- 10.0\n' >"$work/list"
    [ -z "$1" ] || printf 'hvm 7 256 1 %s 5.0\n' "$1" >>"$work/list"
}

# A probe: sources the helpers, watches domain 7, prints "running" if
# hvm_require_running returns.
cat >"$work/probe.sh" <<PROBE
#!/bin/bash
set -euo pipefail
source "$lib/common.sh"
source "$lib/hvm.sh"
HVM_DOMID=7
# A scenario's own log, when the case gives one.
if [ -n "\${OWN_LOG:-}" ]; then hvm_own_faults() { grep -E "\$HVM_OWN_FAULTS" "\$OWN_LOG" || true; }; fi
hvm_require_running
echo running
PROBE

probe() {  # WANT_RC CASE: runs the probe
    local rc=0
    bash "$work/probe.sh" >"$work/$2.out" 2>&1 || rc=$?
    [ "$rc" = "$1" ] || { sed 's/^/  | /' "$work/$2.out" >&2; fail "$2: the probe exited with $rc, expected $1"; }
}

: >"$work/dmesg"
listing "-b----"
probe 0 blocked
grep -qx running "$work/blocked.out" || fail "a blocked guest is not taken as running"
listing "r-----"
probe 0 running
ok "a running or blocked guest: hvm_require_running returns"

listing "---s--"
probe 1 shutdown
grep -q "FAIL: the guest (domain 7) is no longer running: state '---s--'" "$work/shutdown.out" ||
    fail "a guest that shut down without a triple fault: $(cat "$work/shutdown.out")"
listing ""
probe 1 gone
grep -q "state 'gone'" "$work/gone.out" || fail "a vanished guest: $(cat "$work/gone.out")"
ok "a guest that shut down or vanished without a triple fault is a plain failure (exit 1)"

printf '(XEN) d12v0 Triple fault - invoking HVM shutdown action 1\n' >"$work/dmesg"
listing "---s--"
probe 1 other-domain
ok "another domain's triple fault does not count"

printf '(XEN) d7v0 Triple fault - invoking HVM shutdown action 1\n' >"$work/dmesg"
listing "---s--"
probe 75 triple
grep -q "xen| (XEN) d7v0 Triple fault" "$work/triple.out" || fail "Xen's line is not shown: $(cat "$work/triple.out")"
listing "r-----"
probe 0 running-after-old-fault
ok "a guest that died by a triple fault exits with HVM_ENV_FAULT (75), Xen's line shown; a running one does not"

# The scenario's own log says xenvhost broke a device first: no retry.
export OWN_LOG=$work/own.log
printf 'xenvhost-worker[7]: info: serving\n' >"$OWN_LOG"
listing "---s--"
probe 75 triple-no-own-fault
printf 'xenvhost-dm[9]: warn: pci 0000:00:10.0: device broken until reset: the device did not start\n' >>"$OWN_LOG"
probe 1 triple-after-own-fault
grep -q "xenvhost logged faults before it (so no retry)" "$work/triple-after-own-fault.out" ||
    fail "the own fault is not said: $(cat "$work/triple-after-own-fault.out")"
grep -q "device broken until reset" "$work/triple-after-own-fault.out" || fail "the own fault's line is not shown"
ok "a triple fault after xenvhost logged a broken device is a plain failure (exit 1), the line shown"

# A scenario whose attempts exit with the codes listed in $work/codes-NAME
# (one per line); it counts its attempts in $work/attempts-NAME.
cat >"$work/scenario.sh" <<SCENARIO
#!/bin/bash
set -euo pipefail
source "$lib/common.sh"
source "$lib/hvm.sh"
hvm_with_retry "\$@"
echo "attempt \$HVM_ATTEMPT" >>"$work/attempts-\$1"
exit "\$(sed -n "\${HVM_ATTEMPT}p" "$work/codes-\$1")"
SCENARIO
chmod +x "$work/scenario.sh"

scenario() {  # WANT_RC WANT_ATTEMPTS NAME CODE...
    local want=$1 attempts=$2 name=$3 rc=0
    shift 3
    printf '%s\n' "$@" >"$work/codes-$name"
    "$work/scenario.sh" "$name" >"$work/$name.out" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || { sed 's/^/  | /' "$work/$name.out" >&2; fail "$name: exited with $rc, expected $want"; }
    [ "$(wc -l <"$work/attempts-$name")" = "$attempts" ] || fail "$name: $(wc -l <"$work/attempts-$name") attempts, expected $attempts"
}

scenario 0 1 pass 0
! grep -q RETRY "$work/pass.out" || fail "a passing scenario says RETRY"
scenario 1 1 fail 1
scenario 1 1 timeout 143
ok "a scenario that passes or fails for any other reason runs once"
scenario 0 2 fault-then-pass 75 0
grep -q '^RETRY: attempt 1 ended by a triple fault' "$work/fault-then-pass.out" || fail "the retry is not said"
grep -q '^FIGURES environment: triple faults of the HVM guest in this scenario: 1' "$work/fault-then-pass.out" ||
    fail "the retry is not counted"
scenario 1 2 fault-then-fail 75 1
scenario 1 2 fault-twice 75 75
grep -q '^FAIL: the guest died by a triple fault in both attempts' "$work/fault-twice.out" || fail "two faults are not said"
ok "after a triple fault the scenario runs once more, said and counted; it passes only if that run passes"
echo "t-hvm: $checks checks passed"
