#!/usr/bin/env bash
# make demo-qemu: a Linux guest under QEMU uses a virtio-blk disk that the back-end
# (xenvhost-worker unless BACKEND=qsd) serves over vhost-user. Prints what is
# started, the guest's steps with their times, the host-side checks of the
# image file, and the result.
#
#   demo.sh [CASE]     CASE: rw-1q (default), rw-2q, ro-1q, reconnect, kill-restart or resize
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=lib.sh
. "$here/lib.sh"

XVT_VERBOSE=${XVT_VERBOSE_DEMO:-1}
name=${1:-rw-1q}
xvt_known_case "$name"
xvt_init

case ${XVT_CASES[$name]%% *} in
    ro) story="it must see a read-only disk, fail to write, and read the host's $XVT_MIB MiB pattern
             (plainly and through a scattered buffer); the image must stay unchanged" ;;
    kr) story="it writes ${KR_PASSES:-8} passes of ${KR_MIB:-64} 1 MiB blocks with O_DIRECT and reads each
             pass back while the host kills the worker ${KR_KILLS:-6} times with SIGKILL and
             restarts it; every block must come back right" ;;
    rz) story="the host grows the image and sends the worker SIGHUP while the guest runs; the guest
             must see the new capacity, then write and read at the new end of the disk" ;;
    *) story="it writes $XVT_MIB MiB, reads them back with O_DIRECT, does both again through
             scattered buffers, and signs two sectors; the host then checks the image file" ;;
esac
if [ "$BACKEND" = worker ]; then what="xenvhost-worker ($WORKER)"; else what="qemu-storage-daemon"; fi
cat <<INTRO
xenvhost demo
  back-end : $what, serving a ${XVT_IMAGE_BYTES}-byte raw image over a vhost-user socket
  front-end: $(qemu-system-x86_64 --version | head -n 1), TCG, vhost-user-blk-pci
  guest    : $GUEST_KERNEL + busybox initramfs, case $name (${XVT_CASES[$name]#* * * * })
             $story
  times    : left column host seconds since the case started, T+ the guest's uptime.

INTRO

if xvt_named_case "$name"; then
    echo
    echo "demo result: PASS — the guest's data went through the back-end to the image and back."
else
    echo
    echo "demo result: FAIL — see the failed checks and the logs above."
    exit 1
fi
