# shellcheck shell=bash
# Helpers for the dom0 scenarios (sourced). A scenario is an executable
# scenarios/NN-name.sh run in order by dom0-main.sh with DOMU_ID exported;
# it passes by exiting 0.

uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Seconds (two decimals) from uptime A to now, or to uptime B.
since() { awk -v a="$1" -v b="${2:-$(uptime_s)}" 'BEGIN { printf "%.2f", b - a }'; }

# Succeeds if number A >= number B.
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

die() {
    echo "FAIL: $*"
    exit 1
}

# Waits up to SECONDS (by the clock, however slow each try is) for
# COMMAND... to succeed, polling every 0.2 s.
wait_until() {
    local limit=$1 t0
    shift
    t0=$(uptime_s)
    until "$@" >/dev/null 2>&1; do
        at_least "$limit" "$(since "$t0")" || return 1
        sleep 0.2
    done
}

# Fails unless xenstore node PATH reads WANT.
expect_node() {
    local path=$1 want=$2 got
    got=$(xenstore-read "$path") || die "xenstore node $path is missing"
    [ "$got" = "$want" ] || die "$path is '$got', expected '$want'"
}

# Fails unless LISTING (output of `xenstore-ls -fp`) has node PATH = WANT.
# Checking one snapshot, without starting processes, keeps the checks
# consistent and fast: a process start costs up to a second in dom0 under TCG.
expect_listed() {
    local listing=$1 path=$2 want=$3 line rest got
    while IFS= read -r line; do
        [[ $line == "$path = \""* ]] || continue
        rest=${line#"$path = \""}
        got=${rest%%\"*}
        [ "$got" = "$want" ] || die "$path is '$got', expected '$want'"
        return 0
    done <<<"$listing"
    die "xenstore node $path is missing"
}
