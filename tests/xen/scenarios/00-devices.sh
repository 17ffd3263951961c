#!/bin/bash
# The Xen device interfaces a back-end relies on, from dom0 against the real
# hypervisor and the running guest: grant self-map (one ref, then several refs
# in one batched map), foreign map with per-page errors, event channels.
set -euo pipefail
: "${DOMU_ID:?DOMU_ID must name the running guest}"
xen-devices-check "$DOMU_ID" --grant-pages 8 --rounds 200
