# shellcheck shell=bash
# Shared by the scripts level's groups: checks, and a private xenstored (the
# real C xenstored 4.17 behind the xenstore level's fakexen.so shim) with
# xenvhostd on it, all in one temporary directory, stopped by pid on exit.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034  # used by the groups that source this file
repo=$(cd "$here/../.." && pwd)
XENSTORED=${XENSTORED:-/usr/lib/xen-4.17/bin/xenstored}

checks=0
ok() {
    checks=$((checks + 1))
    echo "  ok: $*"
}
fail() {
    echo "  FAIL: $*" >&2
    if [ -n "${work:-}" ] && [ -f "$work/daemon.log" ]; then
        echo "  --- last lines of xenvhostd's log" >&2
        tail -n 30 "$work/daemon.log" | sed 's/^/  | /' >&2
    fi
    exit 1
}
need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || fail "$tool is not installed (make deps)"
    done
}

# run WANT_RC NAME CMD...: runs CMD with stdout in $work/NAME.out and stderr
# in $work/NAME.err, and fails unless it exits with WANT_RC.
run() {
    local want=$1 name=$2 rc=0
    shift 2
    "$@" >"$work/$name.out" 2>"$work/$name.err" || rc=$?
    if [ "$rc" != "$want" ]; then
        sed 's/^/  out| /' "$work/$name.out" >&2
        sed 's/^/  err| /' "$work/$name.err" >&2
        fail "$name: '$*' exited with $rc, expected $want"
    fi
}
# contains FILE TEXT [WHAT]
contains() {
    grep -qF -- "$2" "$1" || { sed 's/^/  | /' "$1" >&2; fail "${3:-$1} does not say '$2'"; }
}
lacks() {
    ! grep -qF -- "$2" "$1" || { sed 's/^/  | /' "$1" >&2; fail "${3:-$1} says '$2'"; }
}
# equals ACTUAL EXPECTED WHAT
equals() {
    [ "$1" = "$2" ] || fail "$3: '$1', expected '$2'"
}

# Polls CMD every 50 ms for up to SECONDS.
wait_for() {
    local seconds=$1 i
    shift
    for ((i = 0; i < seconds * 20; i++)); do
        if "$@"; then return 0; fi
        sleep 0.05
    done
    return 1
}

# gone PID: the process has exited (or is a zombie of ours).
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" = Z ]; }

work=
xs_pid=
daemon_pid=
cleanup_env() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait_for 10 gone "$daemon_pid" || kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$xs_pid" ] && kill -0 "$xs_pid" 2>/dev/null; then
        kill -TERM "$xs_pid" 2>/dev/null || true
        wait "$xs_pid" 2>/dev/null || true
    fi
    if [ -n "$work" ] && [ -z "${XENVHOST_TEST_KEEP:-}" ]; then rm -rf "$work"; fi
}

new_work() {
    work=$(mktemp -d "${XENVHOST_TEST_TMP:-/tmp}/xenvhost-scripts.XXXXXX")
    trap cleanup_env EXIT
}

# Starts xenstored in $work and points the xenstore-* tools at it.
start_xenstored() {
    : "${FAKEXEN:?FAKEXEN must name fakexen.so of the xenstore level}"
    mkdir -p "$work/xs-run" "$work/xs-state"
    export XENSTORED_PATH=$work/xs-run/socket FAKEXEN_DIR=$work/xs-state
    # Only xenstored runs on the shim.
    LD_PRELOAD=$FAKEXEN XENSTORED_RUNDIR=$work/xs-run \
        "$XENSTORED" -N >"$work/xenstored.log" 2>&1 &
    xs_pid=$!
    wait_for 5 test -S "$XENSTORED_PATH" || fail "xenstored did not create its socket: $(cat "$work/xenstored.log")"
    # What xen-init-dom0 writes; retried, as the socket exists a moment before
    # xenstored listens on it.
    wait_for 5 xenstore-write /local/domain/0/name Domain-0 /local/domain/0/domid 0 2>/dev/null ||
        fail "xenstored does not answer: $(cat "$work/xenstored.log")"
}

# Starts xenvhostd on that xenstored, as systemd would with Type=notify, and
# returns once it has sent READY=1 (its watches are in place by then).
start_daemon() {
    : "${DAEMON:?}" "${WORKER:?}" "${NOTIFY_LISTEN:?}"
    local notify=$work/notify.sock rc=0
    mkdir -p "$work/run"
    "$NOTIFY_LISTEN" "$notify" 10 >"$work/notify.log" 2>&1 &
    local listener=$!
    wait_for 5 test -S "$notify" || fail "notify-listen did not bind $notify"
    # As root, workers drop to uids of a test range that needs no passwd entry.
    local identity=()
    [ "$(id -u)" != 0 ] || identity=(--guest-uid-range-base 3900000000)
    NOTIFY_SOCKET=$notify "$DAEMON" --run-dir "$work/run" --worker "$WORKER" --log-level debug "${identity[@]}" \
        >"$work/daemon.log" 2>&1 &
    daemon_pid=$!
    wait "$listener" || rc=$?
    [ "$rc" = 0 ] || fail "xenvhostd sent no READY=1 within 10 s: $(cat "$work/notify.log")"
    kill -0 "$daemon_pid" 2>/dev/null || fail "xenvhostd exited after READY=1"
}
