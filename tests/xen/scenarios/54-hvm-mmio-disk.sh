#!/bin/bash
# Scenario 52 with the grant guest's read-write disk on the device model's
# virtio-mmio transport, the transport libxl declares on Arm: xenvhostd is
# told a window and an interrupt for it (--virtio-disk-keys
# DEVID grant_usage=1,base=0xfe000000,irq=7: libxl 4.17 allocates them only
# on Arm), the guest's kernel learns of the device from its command line
# (virtio_mmio.device=512@0xfe000000:7, CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES)
# and its interrupt is ISA IRQ 7 on the guest's IOAPIC (x86 Xen has no
# XEN_DMOP_set_irq_level; the device model sets an ISA IRQ's level). The
# guest checks the same data, file system and grant DMA; the read-only disk
# stays on virtio-pci with grants, and no foreign comparison follows.
#
# scenario-timeout: 900
set -euo pipefail
HVM_GRANT_TRANSPORT=mmio exec bash "$(dirname "$0")/52-hvm-grant-disk.sh" "$@"
