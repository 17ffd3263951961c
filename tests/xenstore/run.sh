#!/usr/bin/env bash
# Runs the xenstore-level test binary in a process group of its own, with its
# temporary directories under one private directory. Whatever is left on exit
# (xenstored, xenvhostd, workers: even if the binary crashed) is killed by
# process group, and the directory is removed unless XENVHOST_TEST_KEEP is set.
set -euo pipefail

if [ $# -lt 1 ]; then
    echo "usage: $0 TEST-BINARY [ARGS...]" >&2
    exit 2
fi

# On a tmpfs when there is one, as the daemon's run directory is in service
# (/run/xenvhost): on a disk that builds share, creating and removing each
# guest's directory there took milliseconds, which the dense-host case
# measured instead of the daemon. TMPDIR still decides when it is set.
base=${TMPDIR:-}
if [ -z "$base" ]; then
    base=/tmp
    if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
        base=/dev/shm
    fi
fi
tmp=$(mktemp -d "$base/xenvhost-xslevel.XXXXXX")
pid=

cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    if [ -z "${XENVHOST_TEST_KEEP:-}" ]; then
        rm -rf "$tmp"
    else
        echo "kept $tmp" >&2
    fi
}
trap cleanup EXIT

export XENVHOST_TEST_TMP=$tmp
# setsid makes the binary (same pid) the leader of a new process group that
# every process it starts inherits.
setsid "$@" &
pid=$!
wait "$pid"
