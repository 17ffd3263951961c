# shellcheck shell=bash
# shellcheck disable=SC2034  # the harness globals set here are read by lib.sh
# The iommu case, sourced by lib.sh: the rw guest test (pattern written, read
# back with O_DIRECT, scattered buffers, signatures) on a q35 machine whose
# vhost-user-blk device sits behind an emulated Intel IOMMU. The guest kernel
# runs with intel_iommu=on, so every ring and buffer address the worker sees
# is an I/O virtual address: it asks QEMU for each translation (IOTLB MISS on
# the back-end channel, answered with an UPDATE) and drops them when the
# guest flushes its IOTLB (INVALIDATE).
#
# The configuration is the one QEMU 7.2 can drive correctly:
#   - device-iotlb=on on intel-iommu and ats=on on the device. QEMU 7.2's vhost
#     registers a device-IOTLB unmap notifier, so it relays to the back-end
#     only the guest's device-TLB invalidations, and Linux issues those only
#     for a device whose ATS it enabled. (QEMU 8.1 falls back to plain unmap
#     notifications when the guest leaves ATS off.)
#   - the device behind a PCIe root port: on the root bus of q35, virtio-pci
#     is a conventional PCI device, has no extended capabilities and so no
#     ATS capability; ats=on is then silently without effect, the guest never
#     invalidates the device's TLB, and the worker keeps translations of IOVAs
#     the guest has since reused for other pages.
#   - intremap=off: interrupt remapping would need a split irqchip, which
#     TCG does not need for this test.
# Case iommu: the guest's IOMMU in its default lazy mode, every flush an
# INVALIDATE of the whole IOVA space, often while the worker waits for a MISS
# answer, which is the case that must not deadlock. Case iommu-strict: the
# guest invalidates each unmap at once, thousands of single-page INVALIDATEs
# of other pages while the worker waits for its answer.
#
# Environment:
#   XVT_IOMMU_KERNEL_ARGS   guest kernel words (default: intel_iommu=on); for
#                           example "intel_iommu=on iommu.strict=1"

XVT_IOMMU_KERNEL_ARGS=${XVT_IOMMU_KERNEL_ARGS:-intel_iommu=on}

# Guest RAM is 512 MiB (0x20000000) from guest-physical 0: an IOVA at or
# above it cannot be a guest-physical address, so the guest's IOMMU made it.
readonly XVT_IOMMU_RAM_TOP=0x20000000

# Runs the case NAME. Returns 0 when every check passed.
xvt_iommu_case() {
    local name=$1 desc=$2
    local run img sock backend_status=0
    XVT_CASE_FAILS=0
    XVT_CASE_T0=$(xvt_us)
    echo "=== case $name: $desc (back-end: $BACKEND)"

    run=$(mktemp -d "$BUILD/qemu/run-$name.XXXXXX")
    img=$run/disk.img
    sock=$run/vhost-blk.sock
    XVT_SERIAL_LOG=$run/serial-1.log
    XVT_MARKERS=$run/markers-1

    truncate -s "$XVT_IMAGE_BYTES" "$img"
    xvt_say "host   image $XVT_IMAGE_BYTES bytes, zeroed"
    xvt_backend_cmd "$sock" "$img" 1 rw
    # Each IOTLB message the worker gets is a debug line: the checks count them.
    XVT_BACKEND_CMD+=(--log-level debug)
    if ! xvt_start_backend "$sock" "$run/backend.log"; then
        xvt_fail "worker listening on $sock within 10 s"
        xvt_case_end "$name" "$run"
        return 1
    fi
    xvt_say "host   worker listening (pid $XVT_BACKEND_PID)"

    XVT_QEMU_ARGS=(-M q35 -device "intel-iommu,intremap=off,device-iotlb=on"
        -device "pcie-root-port,id=rp0,chassis=1,slot=1")
    XVT_BLK_OPTS=,bus=rp0,disable-legacy=on,iommu_platform=on,ats=on
    XVT_KERNEL_ARGS=$XVT_IOMMU_KERNEL_ARGS
    # Strict mode: every unmap is invalidated at once, thousands of
    # single-page INVALIDATEs, many while the worker waits for a MISS answer.
    if [ "$name" = iommu-strict ]; then XVT_KERNEL_ARGS+=" iommu.strict=1"; fi
    xvt_say "host   q35, intel-iommu (device IOTLB), device behind a root port with ATS; guest: $XVT_KERNEL_ARGS"
    xvt_boot "$run" "$sock" rw 1
    XVT_QEMU_ARGS=() XVT_BLK_OPTS='' XVT_KERNEL_ARGS=''

    if kill -0 "$XVT_BACKEND_PID" 2>/dev/null; then
        xvt_stop_pid "$XVT_BACKEND_PID"
        wait "$XVT_BACKEND_PID" || backend_status=$?
        xvt_say "host   worker stopped by SIGTERM (status $backend_status)"
        xvt_check "worker exits 0 on SIGTERM (status $backend_status)" "$backend_status" -eq 0
    else
        wait "$XVT_BACKEND_PID" || backend_status=$?
        xvt_fail "worker still running after the guest (it exited with status $backend_status)"
    fi
    XVT_BACKEND_PID=

    xvt_verify rw 1 rw "$img" "" ""
    xvt_iommu_verify "$run/backend.log" "$run/qemu.log"
    xvt_case_end "$name" "$run"
}

# What the worker's log says about the IOTLB traffic.
xvt_iommu_verify() {
    local log=$1 qemu_log=$2
    local updates invalidations beyond whole failed misses
    updates=$(grep -c 'IOTLB type 2 ' "$log" || true)
    misses=$(grep -c -E 'IOTLB miss for 0x[0-9a-f]+ perm' "$log" || true)
    invalidations=$(grep -c 'IOTLB type 3 ' "$log" || true)
    # UPDATEs at IOVAs of 9 hex digits or more, or of 8 from 0x20000000 on.
    beyond=$(grep -c -E 'IOTLB type 2 iova 0x([0-9a-f]{9,}|[2-9a-f][0-9a-f]{7}) ' "$log" || true)
    whole=$(grep -c 'IOTLB type 3 iova 0x0 size 0xfee00000' "$log" || true)
    failed=$(grep -c -e 'no IOTLB translation' -e 'IOTLB miss for .* not delivered' \
        -e 'queue stopped' "$log" || true)
    xvt_check "the worker translated through QEMU's IOTLB ($misses MISSes asked, $updates UPDATEs)" "$updates" -gt 0
    xvt_check "guest DMA used I/O virtual addresses outside guest RAM ($beyond UPDATEs at IOVAs >= $XVT_IOMMU_RAM_TOP)" \
        "$beyond" -gt 0
    xvt_check "the guest's IOTLB flushes reached the worker ($invalidations INVALIDATEs, $whole of the whole space)" \
        "$invalidations" -gt 0
    xvt_check "no translation failed, no MISS went unanswered, no queue stopped ($failed warning(s))" "$failed" -eq 0
    # When Linux resets the device SeaBIOS left running, QEMU reads the old
    # ring's used index at its guest-physical address, through the IOMMU the
    # guest has enabled meanwhile: one harmless translation fault.
    if grep -q 'detected translation failure' "$qemu_log"; then
        echo "  note  QEMU: $(grep -c 'detected translation failure' "$qemu_log") translation failure(s)," \
            "$(grep -m 1 -o 'iova=0x[0-9a-f]*' "$qemu_log") first (the firmware's ring, read after the guest enabled DMAR)"
    fi
}
