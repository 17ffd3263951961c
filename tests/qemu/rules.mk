# QEMU level: a real QEMU 7.2 (TCG) with a Linux guest doing I/O on a disk
# served by the vhost-user-blk back-end under test.
#
#   make qemu-guest                  guest kernel + busybox initramfs into $(BUILD)/qemu/
#   make test-qemu                   every guest case against build/bin/xenvhost-worker,
#                                    kill-restart included (the worker killed with
#                                    SIGKILL and restarted during guest I/O)
#   make test-qemu BACKEND=qsd       the same cases against qemu-storage-daemon, but
#                                    kill-restart (it keeps no in-flight requests),
#                                    resize (it has no SIGHUP reload) and iommu (no IOTLB)
#   make test-qemu-kill-restart      only the kill-restart case (KR_KILLS, KR_PASSES,
#                                    KR_STREAMS... as in tests/qemu/kill-restart.sh)
#   make test-qemu-resize            only the resize case (the image grown and the worker
#                                    sent SIGHUP during the guest run; tests/qemu/resize.sh)
#   make test-qemu-iommu             only the iommu cases (q35, the device behind an emulated
#                                    Intel IOMMU with device IOTLB and ATS; tests/qemu/iommu.sh)
#   make demo-qemu                   one guest run against the worker, with a transcript
#                                    (`make demo` is the Xen demo, tests/xen/rules.mk)

QEMU_DIR        := $(BUILD)/qemu
# The newest installed Debian kernel; its modules come from /lib/modules.
QEMU_KERNEL_SRC := $(shell ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
QEMU_KERNEL     := $(QEMU_DIR)/vmlinuz
QEMU_INITRAMFS  := $(QEMU_DIR)/guest.cpio.gz
QEMU_BACKEND     = $(if $(BACKEND),$(BACKEND),worker)
# Kills the worker while it holds a request in flight (the kill-restart case).
QEMU_INFLIGHT_KILL := $(BUILD)/bin/xvt-inflight-kill

$(QEMU_INFLIGHT_KILL): $(BUILD)/obj/tests/qemu/inflight_kill.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(QEMU_KERNEL): tests/qemu/build-guest.sh $(QEMU_KERNEL_SRC)
	@test -n "$(QEMU_KERNEL_SRC)" || { echo "no /boot/vmlinuz-*: install linux-image-amd64" >&2; exit 1; }
	@bash tests/qemu/build-guest.sh kernel $(QEMU_KERNEL_SRC) $@

$(QEMU_INITRAMFS): tests/qemu/build-guest.sh tests/qemu/guest-init.sh $(QEMU_KERNEL_SRC)
	@test -n "$(QEMU_KERNEL_SRC)" || { echo "no /boot/vmlinuz-*: install linux-image-amd64" >&2; exit 1; }
	@bash tests/qemu/build-guest.sh initramfs $(QEMU_KERNEL_SRC) tests/qemu/guest-init.sh $@

.PHONY: qemu-guest
qemu-guest: $(QEMU_KERNEL) $(QEMU_INITRAMFS)

QEMU_TEST_ENV = BUILD=$(BUILD) WORKER=$(WORKER) BACKEND=$(QEMU_BACKEND) \
  GUEST_KERNEL=$(QEMU_KERNEL) GUEST_INITRAMFS=$(QEMU_INITRAMFS) INFLIGHT_KILL=$(QEMU_INFLIGHT_KILL)

.PHONY: test-qemu
test-qemu: all qemu-guest $(QEMU_INFLIGHT_KILL)
	@$(QEMU_TEST_ENV) bash tests/qemu/run-tests.sh

.PHONY: test-qemu-kill-restart
test-qemu-kill-restart: all qemu-guest $(QEMU_INFLIGHT_KILL)
	@$(QEMU_TEST_ENV) bash tests/qemu/run-tests.sh kill-restart

.PHONY: test-qemu-resize
test-qemu-resize: all qemu-guest
	@$(QEMU_TEST_ENV) bash tests/qemu/run-tests.sh resize

.PHONY: test-qemu-iommu
test-qemu-iommu: all qemu-guest
	@$(QEMU_TEST_ENV) bash tests/qemu/run-tests.sh iommu iommu-strict

.PHONY: demo-qemu
demo-qemu: all qemu-guest $(QEMU_INFLIGHT_KILL)
	@$(QEMU_TEST_ENV) bash tests/qemu/demo.sh

TEST_LEVELS += qemu
