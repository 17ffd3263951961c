# xenstore level: xenvhostd against the real C xenstored 4.17, run without a
# hypervisor behind the fakexen.so LD_PRELOAD shim, with the real worker and
# the in-tree vhost-user front-end (tests/frontend) doing I/O. An HVM
# guest's device model (the real xenvhost-dm, started by the daemon) runs
# under the Xen double (libxendouble.so, preloaded into the daemon and so into
# its children).
XENSTORE_TEST_SRCS := $(sort $(filter-out %/fakexen.c %/escape_worker.cpp %/escape_dm.cpp,$(wildcard tests/xenstore/*.cpp)))
XENSTORE_TEST_OBJS := $(XENSTORE_TEST_SRCS:%.cpp=$(BUILD)/obj/%.o)
XENSTORE_TESTS     := $(BUILD)/bin/xenstore-tests
FAKEXEN            := $(BUILD)/lib/fakexen.so

$(XENSTORE_TEST_OBJS): CPPFLAGS += -I. -Itests -DXENVHOST_BUILD_BIN='"$(abspath $(BUILD)/bin)"' \
  -DXENVHOST_FAKEXEN='"$(abspath $(FAKEXEN))"' -DXENVHOST_SOURCE_DIR='"$(abspath .)"' \
  -DXENVHOST_XENDOUBLE='"$(abspath $(BUILD)/lib/libxendouble.so)"'

# The worker with a compromised-worker hook (tests only; deprivilege_test.cpp).
ESCAPE_WORKER := $(BUILD)/bin/xenvhost-worker-escape
$(ESCAPE_WORKER): $(BUILD)/obj/tests/xenstore/escape_worker.o $(WORKER_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# The device model with a compromised-device-model hook (tests only; device_model_sandbox_test.cpp).
ESCAPE_DM := $(BUILD)/bin/xenvhost-dm-escape
$(ESCAPE_DM): $(BUILD)/obj/tests/xenstore/escape_dm.o $(DM_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(FAKEXEN): tests/xenstore/fakexen.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

# The component level's guest drivers of xenvhost-dm (virtio-pci and virtio-blk
# through the double's ioreq page), for the sandboxed device model's I/O.
XENSTORE_DM_DRIVER := $(BUILD)/obj/tests/component/dm_guest_transport.o $(BUILD)/obj/tests/component/dm_blk_guest.o

$(XENSTORE_TESTS): $(XENSTORE_TEST_OBJS) $(XENSTORE_DM_DRIVER) $(BUILD)/lib/libfrontend.a $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lgtest_main -lgtest $(LDLIBS)

.PHONY: test-xenstore
test-xenstore: $(XENSTORE_TESTS) $(FAKEXEN) $(WORKER) $(ESCAPE_WORKER) $(DAEMON) $(DM) $(ESCAPE_DM) $(BUILD)/lib/libxendouble.so
	bash tests/xenstore/run.sh $(XENSTORE_TESTS) --gtest_brief=1

TEST_LEVELS += xenstore

# The dense-host case alone (1000 guests, as in test-xenstore; see
# dense_host_test.cpp): `DENSE_GUESTS=N` for another count.
.PHONY: test-xenstore-dense
test-xenstore-dense: $(XENSTORE_TESTS) $(FAKEXEN) $(WORKER) $(DAEMON)
	XENVHOST_DENSE_GUESTS=$(or $(DENSE_GUESTS),1000) bash tests/xenstore/run.sh $(XENSTORE_TESTS) \
	  --gtest_filter=XenstoreLevel.DenseHost
