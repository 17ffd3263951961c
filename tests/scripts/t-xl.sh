#!/bin/bash
# xenvhost-create and xenvhost-status against the real xenstored, the real
# xenvhostd and worker, and the fake xl (fake-xl/xl), which writes xenstore
# the way libxl does: its waiting, error, timeout and interrupt paths run
# for real against xenvhostd's answers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${XS_LIBXL:?}" "${STATUS:?}"
need xenstore-read xenstore-write xenstore-list xenstore-rm jq bc

new_work
start_xenstored
start_daemon
ok "xenvhostd started as under Type=notify: $(tr '\n' ' ' <"$work/notify.log")"
export XS_LIBXL FAKE_XL_DIR=$work/xl
mkdir -p "$FAKE_XL_DIR"
# libxl's 10 s waits, shortened where a case waits for them to expire.
export FAKE_XL_INIT_TIMEOUT=4 FAKE_XL_DESTROY_TIMEOUT=2
export PATH=$here/fake-xl:$repo/xl-scripts:${STATUS%/*}:$PATH
[ "$(command -v xl)" = "$here/fake-xl/xl" ] || fail "the fake xl is not first in PATH"

truncate -s 16M "$work/disk.img" "$work/generic.img"

xs() { xenstore-read "$1" 2>/dev/null || true; }
domid_of() { xl domid "$1" 2>/dev/null || true; }
domain_gone() { [ -z "$(xs "/local/domain/$1/name")" ]; }
run_state() { cat "$FAKE_XL_DIR/dom-$1" 2>/dev/null || true; }

# ---------------------------------------------------------------- usage
echo "xenvhost-create: usage"
run 0 help xenvhost-create --help
contains "$work/help.out" "Usage: xenvhost-create"
run 2 noargs xenvhost-create
contains "$work/noargs.err" "no xl configuration file given"
run 2 badtimeout xenvhost-create --timeout 1x "$repo/xl-scripts/pv-virtio-disk.cfg"
contains "$work/badtimeout.err" "whole number of seconds"
run 2 badimage xenvhost-create --virtio-image 0=relative.img "$repo/xl-scripts/virtio-generic.cfg"
contains "$work/badimage.err" "must be absolute"
run 2 badopt xenvhost-create --frobnicate "$repo/xl-scripts/pv-virtio-disk.cfg"
equals "$(grep -c . "$FAKE_XL_DIR/log" 2>/dev/null || echo 0)" 0 "xl calls after usage errors"
ok "--help, missing config, bad timeout, relative image, unknown option (no xl call)"

# ---------------------------------------------------------------- virtio disk, served
echo "xenvhost-create: a virtio disk that xenvhostd serves (the example pv-virtio-disk.cfg)"
sed "s|target=/srv/xen/pv-virtio-disk.img|target=$work/disk.img|" "$repo/xl-scripts/pv-virtio-disk.cfg" >"$work/disk.cfg"
grep -q "target=$work/disk.img" "$work/disk.cfg" || fail "the example's disk line changed; adapt this test"
run 0 create-disk xenvhost-create "$work/disk.cfg"
d_disk=$(domid_of pv-virtio-disk)
[ -n "$d_disk" ] || fail "no domain pv-virtio-disk after xenvhost-create"
be=/local/domain/0/backend/virtio_disk/$d_disk/51712
equals "$(xs "$be/state")" 2 "state of $be"
equals "$(run_state "$d_disk")" running "the guest's run state"
sock=$(xs "$be/vhost-user-socket")
[ -S "$sock" ] || fail "the device's socket $sock does not exist"
pid=$(xs "$be/xenvhost-worker-pid")
kill -0 "$pid" 2>/dev/null || fail "worker pid $pid is not running"
grep -q "^xl create -p $work/disk.cfg\$" "$FAKE_XL_DIR/log" || fail "xl create -p was not called: $(cat "$FAKE_XL_DIR/log")"
grep -q "^xl unpause $d_disk\$" "$FAKE_XL_DIR/log" || fail "xl unpause $d_disk was not called"
contains "$work/create-disk.out" "pv-virtio-disk (domid $d_disk) is running"
ok "state 2, socket $sock, worker $pid, xl create -p then xl unpause $d_disk"

# ---------------------------------------------------------------- same name again
echo "xenvhost-create: a guest of that name exists"
calls=$(grep -c . "$FAKE_XL_DIR/log")
run 1 again xenvhost-create "$work/disk.cfg"
contains "$work/again.err" "a domain called 'pv-virtio-disk' already exists (domid $d_disk)"
equals "$(grep -c . "$FAKE_XL_DIR/log")" "$calls" "xl calls"
equals "$(run_state "$d_disk")" running "the existing guest's run state"
ok "refused before calling xl; the running guest is untouched"

# ---------------------------------------------------------------- virtio disk, missing image
echo "xenvhost-create: a virtio disk whose image does not exist (libxl refuses it)"
sed -e "s|target=/srv/xen/pv-virtio-disk.img|target=$work/missing.img|" \
    -e 's|^name = .*|name = "missing-disk"|' "$repo/xl-scripts/pv-virtio-disk.cfg" >"$work/missing.cfg"
run 1 create-missing xenvhost-create "$work/missing.cfg"
contains "$work/create-missing.err" "failed to stat: $work/missing.img"
contains "$work/create-missing.err" "xl create failed (exit status 3)"
missing_domid=$(cat "$FAKE_XL_DIR/last-domid")
domain_gone "$missing_domid" || fail "domain $missing_domid is still in xenstore"
ok "xl's own error printed, no domain left"

# ---------------------------------------------------------------- virtio disk, refused image
echo "xenvhost-create: a virtio disk whose image the worker refuses (empty)"
: >"$work/empty.img"
sed -e "s|target=/srv/xen/pv-virtio-disk.img|target=$work/empty.img|" \
    -e 's|^name = .*|name = "bad-disk"|' "$repo/xl-scripts/pv-virtio-disk.cfg" >"$work/bad.cfg"
start=$SECONDS
run 1 create-bad xenvhost-create "$work/bad.cfg"
contains "$work/create-bad.err" "xl create failed"
contains "$work/create-bad.err" "dom0 virtio_disk/51712: "
contains "$work/create-bad.err" "is smaller than one 512-byte block (0 bytes)"
lacks "$work/create-bad.err" "destroying the half-made guest"   # libxl destroyed it itself
bad_domid=$(cat "$FAKE_XL_DIR/last-domid")
equals "$(run_state "$bad_domid")" destroyed "run state of the failed guest"
domain_gone "$bad_domid" || fail "domain $bad_domid is still in xenstore"
! grep -q "^xl destroy $bad_domid\$" "$FAKE_XL_DIR/log" || fail "xenvhost-create called xl destroy although libxl had destroyed the guest"
! grep -q "^xl unpause $bad_domid\$" "$FAKE_XL_DIR/log" || fail "the failed guest was unpaused"
ok "xl create failed after libxl's wait ($((SECONDS - start)) s), xenvhostd's reason printed, guest gone, never unpaused"

# ---------------------------------------------------------------- generic virtio, no image
echo "xenvhost-create: a virtio=[...] device without an image"
sed 's|^name = .*|name = "no-image"|' "$repo/xl-scripts/virtio-generic.cfg" >"$work/noimage.cfg"
run 1 create-noimage xenvhost-create --timeout 10 "$work/noimage.cfg"
contains "$work/create-noimage.err" "cannot be served"
contains "$work/create-noimage.err" "virtio/0: params (image path) is missing"
contains "$work/create-noimage.err" "give --virtio-image 0=PATH"
contains "$work/create-noimage.err" "destroying the half-made guest no-image"
d_noimage=$(grep -o '^xl destroy [0-9]*' "$FAKE_XL_DIR/log" | tail -n 1 | cut -d' ' -f3)
domain_gone "$d_noimage" || fail "domain $d_noimage is still in xenstore"
! grep -q "^xl unpause $d_noimage\$" "$FAKE_XL_DIR/log" || fail "the failed guest was unpaused"
ok "reason printed with a hint, guest $d_noimage destroyed, never unpaused"

# ---------------------------------------------------------------- generic virtio, image given
echo "xenvhost-create: a virtio=[...] device with --virtio-image (the example virtio-generic.cfg)"
run 0 create-generic xenvhost-create --virtio-image "0=$work/generic.img,ro" "$repo/xl-scripts/virtio-generic.cfg"
d_gen=$(domid_of virtio-generic)
gbe=/local/domain/0/backend/virtio/$d_gen/0
equals "$(xs "$gbe/params")" "$work/generic.img" "params"
equals "$(xs "$gbe/mode")" r "mode"
equals "$(xs "$gbe/state")" 2 "state of $gbe"
[ -z "$(xs "$gbe/xenvhost-error")" ] || fail "an error key is left: $(xs "$gbe/xenvhost-error")"
equals "$(run_state "$d_gen")" running "run state"
grep -q "read-only" "$work/daemon.log" || fail "xenvhostd did not serve it read-only"
ok "params and mode written, xenvhostd retried and reached state 2, guest $d_gen unpaused"

# ---------------------------------------------------------------- --paused, then teardown
echo "xenvhost-create --paused, then xl destroy"
sed 's|^name = .*|name = "stays-paused"|' "$repo/xl-scripts/virtio-generic.cfg" >"$work/paused.cfg"
run 0 create-paused xenvhost-create -p -i "0=$work/generic.img" "$work/paused.cfg"
d_p=$(domid_of stays-paused)
equals "$(run_state "$d_p")" paused "run state"
contains "$work/create-paused.out" "stays paused (xl unpause $d_p)"
pbe=/local/domain/0/backend/virtio/$d_p/0
ppid=$(xs "$pbe/xenvhost-worker-pid")
start=$SECONDS
run 0 destroy-paused xl destroy "$d_p"
lacks "$work/destroy-paused.err" "did not reach state 6"
domain_gone "$d_p" || fail "domain $d_p is still in xenstore"
wait_for 10 gone "$ppid" || fail "worker $ppid of the destroyed guest still runs"
ok "left paused; on xl destroy xenvhostd answered 5 with 6 and its worker $ppid stopped ($((SECONDS - start)) s)"

# ---------------------------------------------------------------- timeout
echo "xenvhost-create: a back-end in a domain where nothing serves it (timeout)"
"$XS_LIBXL" domain 50 dd
sed -e 's|^name = .*|name = "no-backend"|' \
    -e 's|"type=virtio,device2,transport=mmio,grant_usage=1"|"type=virtio,device2,transport=mmio,grant_usage=1,backend=dd"|' \
    "$repo/xl-scripts/virtio-generic.cfg" >"$work/dd.cfg"
grep -q "backend=dd" "$work/dd.cfg" || fail "the example's virtio line changed; adapt this test"
start=$SECONDS
run 1 create-timeout xenvhost-create --timeout 2 -i "0=$work/generic.img" "$work/dd.cfg"
took=$((SECONDS - start))
contains "$work/create-timeout.err" "timed out after 2 s"
contains "$work/create-timeout.err" "dom50 virtio/0: still in state 1 (Initialising): no back-end answered (is xenvhostd running in domain 50?)"
d_to=$(grep -o '^xl destroy [0-9]*' "$FAKE_XL_DIR/log" | tail -n 1 | cut -d' ' -f3)
domain_gone "$d_to" || fail "domain $d_to is still in xenstore"
[ -z "$(xenstore-list "/local/domain/50/backend/virtio/$d_to" 2>/dev/null)" ] || fail "its back-end directory is left"
[ "$took" -lt 15 ] || fail "took $took s"
ok "timed out, reason printed, guest $d_to destroyed ($took s with libxl's wait for state 6)"

# ---------------------------------------------------------------- interrupt
echo "xenvhost-create: interrupted while waiting"
sed 's|^name = .*|name = "interrupted"|' "$work/dd.cfg" >"$work/int.cfg"
xenvhost-create --timeout 60 -i "0=$work/generic.img" "$work/int.cfg" >"$work/int.out" 2>"$work/int.err" &
helper=$!
appeared() { [ -n "$(domid_of interrupted)" ]; }
wait_for 10 appeared || fail "the guest did not appear"
d_int=$(domid_of interrupted)
wait_for 10 grep -q "is domid $d_int" "$work/int.out" || fail "xenvhost-create did not get to waiting"
kill -TERM "$helper"
rc=0
wait "$helper" || rc=$?
equals "$rc" 130 "exit status after SIGTERM"
contains "$work/int.err" "destroying the half-made guest interrupted (domid $d_int)"
domain_gone "$d_int" || fail "domain $d_int is still in xenstore"
ok "SIGTERM: exit 130, guest $d_int destroyed"

# ---------------------------------------------------------------- status
echo "xenvhost-status"
run 0 status-help xenvhost-status --help
contains "$work/status-help.out" "Usage: xenvhost-status"
run 2 status-bad xenvhost-status --backend x
run 0 status xenvhost-status
head -n 1 "$work/status.out" | grep -qE '^GUEST +DOMID +BACKEND +DEVICE +STATE +CONNECTED +MAPPING +TRANSPORT +WORKER +RESTARTS +SOCKET +ERROR$' ||
    fail "table header: $(head -n 1 "$work/status.out")"
equals "$(grep -c . "$work/status.out")" 3 "lines of the table (header + 2 served devices)"
row=$(grep "^pv-virtio-disk " "$work/status.out") || fail "no row for pv-virtio-disk: $(cat "$work/status.out")"
read -r -a f <<<"$row"
equals "${f[1]} ${f[2]} ${f[3]} ${f[4]} ${f[5]} ${f[6]}" "$d_disk 0 virtio_disk/51712 (xvda) 2 InitWait" "pv-virtio-disk: domid, backend, device, state"
equals "${f[7]} ${f[8]} ${f[9]} ${f[10]} ${f[11]} ${f[12]} ${f[13]}" "no none none $pid 0 $sock -" \
    "pv-virtio-disk: connected, mapping, transport, worker, restarts, socket, error"
grep -q "^virtio-generic  *$d_gen  *0  *virtio/0  *2 InitWait " "$work/status.out" || fail "virtio-generic row: $(cat "$work/status.out")"
ok "table: header, one row per served device with state, socket, worker pid, restarts"

run 0 status-json xenvhost-status --json
jq -e . "$work/status-json.out" >/dev/null || fail "--json is not JSON: $(cat "$work/status-json.out")"
equals "$(jq length "$work/status-json.out")" 2 "devices in --json"
equals "$(jq -c ".[] | select(.guest == \"pv-virtio-disk\") | [.domid, .backend, .kind, .devid, .dev, .state, .state_name, .online, .connected, .mapping, .restarts, .error]" "$work/status-json.out")" \
    "[$d_disk,0,\"virtio_disk\",51712,\"xvda\",2,\"InitWait\",true,false,\"none\",0,null]" "pv-virtio-disk in --json"
equals "$(jq -r '.[] | select(.guest == "pv-virtio-disk") | .transport' "$work/status-json.out" | cut -d: -f1)" none \
    "pv-virtio-disk has no transport in --json (the reason after 'none:')"
equals "$(jq -c '.[] | select(.guest == "pv-virtio-disk") | .external_backend' "$work/status-json.out")" null \
    "pv-virtio-disk is served by a worker, not an external back-end (external_backend null in --json)"
equals "$(jq -r '.[] | select(.guest == "pv-virtio-disk") | "\(.worker_pid) \(.socket) \(.params)"' "$work/status-json.out")" \
    "$pid $sock $work/disk.img" "pv-virtio-disk worker, socket, params in --json"
ok "--json: valid, numbers as numbers, booleans, null for absent keys"

run 0 status-one xenvhost-status "$d_gen"
equals "$(grep -c . "$work/status-one.out")" 2 "lines for guest $d_gen"
run 0 status-name xenvhost-status pv-virtio-disk
grep -q "^pv-virtio-disk " "$work/status-name.out" || fail "filter by name"
equals "$(grep -c . "$work/status-name.out")" 2 "lines for pv-virtio-disk"
run 0 status-none xenvhost-status --backend 50
contains "$work/status-none.out" "no virtio devices"
ok "filters: by domid, by name, by back-end domain"

# A device xenvhostd refuses, with a quote in its image path: the error shows
# in the table and survives JSON escaping.
"$XS_LIBXL" domain 60 quoted
"$XS_LIBXL" tree virtio_disk-4.17.tree B=0 D=60 DEVID=51728 VDEV=xvdb PARAMS="$work/a\"b.img" MODE=w \
    DEVTYPE=disk REMOVABLE=0 DISCARD=1 BASE=0 IRQ=0
qbe=/local/domain/0/backend/virtio_disk/60/51728
has_error() { [ -n "$(xs "$qbe/xenvhost-error")" ]; }
wait_for 10 has_error || fail "xenvhostd wrote no error for $qbe"
run 0 status-err xenvhost-status quoted
contains "$work/status-err.out" "image $work/a\"b.img: No such file or directory"
contains "$work/status-err.out" "1 Initialising"
run 0 status-err-json xenvhost-status --json 60
equals "$(jq -r '.[0].error' "$work/status-err-json.out")" "image $work/a\"b.img: No such file or directory" "error in --json"
equals "$(jq -r '.[0].worker_pid' "$work/status-err-json.out")" null "worker_pid of a refused device"
ok "a refused device: state 1 and the reason, also through JSON escaping"

# One connection, no helper process: the shell version started about 13
# processes per device.
run 0 status-strace strace -f -qq -o "$work/status.strace" -e trace=connect,execve,clone,clone3,fork,vfork xenvhost-status
equals "$(grep -c 'connect(' "$work/status.strace")" 1 "connections to xenstored"
equals "$(grep -cE 'execve\(|clone|fork' "$work/status.strace")" 1 "programs started (itself)"
ok "one xenstore connection and no other process for the whole listing"

# --watch: a snapshot at start, another after each change, exit 0 on SIGTERM.
xenvhost-status --watch --json pv-virtio-disk >"$work/watch.out" 2>"$work/watch.err" &
watcher=$!
snapshots() { grep -c '^\[' "$work/watch.out" || true; }
first() { [ "$(snapshots)" -ge 1 ]; }
wait_for 10 first || fail "--watch printed nothing: $(cat "$work/watch.err")"
equals "$(head -n 1 "$work/watch.out" | jq -c '[.[] | .guest]')" '["pv-virtio-disk"]' "--watch's first snapshot"
dbe=/local/domain/0/backend/virtio_disk/$d_disk/51712
xenstore-write "$dbe/xenvhost-error" "watch test"
changed() { tail -n 1 "$work/watch.out" | jq -e '.[0].error == "watch test"' >/dev/null 2>&1; }
wait_for 10 changed || fail "--watch did not print the change: $(cat "$work/watch.out")"
xenstore-rm "$dbe/xenvhost-error"
kill -TERM "$watcher"
rc=0
wait "$watcher" || rc=$?
equals "$rc" 0 "--watch's exit status after SIGTERM"
ok "--watch: a JSON line at start and one after a change ($(snapshots) snapshots), exit 0 on SIGTERM"

XENSTORED_PATH=$work/nowhere run 1 status-noxs xenvhost-status
contains "$work/status-noxs.err" "cannot read xenstore"
ok "no xenstored: exit 1 with a message"

# 100 devices of a back-end domain xenvhostd does not serve (77), with the
# keys xenvhostd publishes: one listing's time, as a figure.
args=()
for ((i = 1; i <= 100; i++)); do
    g=$((300 + i))
    dir=/local/domain/77/backend/virtio_disk/$g/51712
    args+=("/local/domain/$g/name" "many-$i" "$dir/state" 2 "$dir/online" 1 "$dir/dev" xvda "$dir/params" "/srv/$g.img"
        "$dir/vhost-user-socket" "/run/xenvhost/dom$g/virtio_disk-51712.sock" "$dir/xenvhost-worker-pid" $((1000 + i))
        "$dir/xenvhost-connected" 1 "$dir/xenvhost-mapping" grant "$dir/xenvhost-restarts" 0
        "$dir/xenvhost-transport" "none: a PV guest has no MMIO emulation, so no virtio transport")
done
xenstore-write "${args[@]}"
t0=$(date +%s%N)
xenvhost-status --backend 77 >"$work/many.out"
t1=$(date +%s%N)
xenvhost-status --backend 77 --json >"$work/many.json"
t2=$(date +%s%N)
equals "$(grep -c '^many-' "$work/many.out")" 100 "rows for 100 devices"
equals "$(jq length "$work/many.json")" 100 "objects for 100 devices"
echo "FIGURES xenvhost-status, 100 devices: table $(((t1 - t0) / 1000000)) ms, --json $(((t2 - t1) / 1000000)) ms"
args=(/local/domain/77)
for ((i = 1; i <= 100; i++)); do args+=("/local/domain/$((300 + i))"); done
xenstore-rm "${args[@]}"
ok "100 devices listed, as a table and as JSON"

echo "t-xl: $checks checks passed"
