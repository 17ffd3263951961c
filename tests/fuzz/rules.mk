# Fuzz level: libFuzzer targets built with clang (ASan + UBSan + coverage)
# from the project's own sources, compiled again for this build into
# $(BUILD)/fuzz/. Seeds and crash reproducers live in tests/fuzz/corpus/<target>/.
#
#   make fuzz                 build every target, run each FUZZ_SECONDS (default 60),
#                             print executions and coverage per target
#   make fuzz FUZZ_TARGETS=fuzz_chain FUZZ_SECONDS=300
#   make test-fuzz-replay     run every target over its committed corpus only (-runs=0)
#   make test-fuzz            the same; the `fuzz` level of `make test`
#   make fuzz-seeds           regenerate the seed files in tests/fuzz/corpus/
#   make test-tsan            the worker and the threaded unit tests with ThreadSanitizer
#                             (g++) in $(BUILD)/tsan/, the component tests against
#                             that worker; fails on any report (the `tsan` level)
#
# New inputs found by `make fuzz` go to $(BUILD)/fuzz/corpus/<target>/ and
# crashes to $(BUILD)/fuzz/artifacts/<target>/; neither touches the tree.
#
# libstdc++ 12 hides <expected> from clang 14 (it needs P0848, which clang 14
# lacks), so this build puts tests/fuzz/compat first on the include path: its
# <expected> defers to the real header where the compiler can use it and
# otherwise supplies the part of std::expected the project uses.

FUZZ_CXX      ?= clang++
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_ALL      := fuzz_session fuzz_chain fuzz_queue_engine fuzz_blk_request fuzz_xen_regions fuzz_xenstore_entry \
                 fuzz_transport
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Itests/fuzz/compat -Isrc -Itests/fuzz -MMD -MP
FUZZ_CXXFLAGS := -std=c++2b -O1 -g -Wall -Wextra -Werror -pthread $(FUZZ_SAN) \
  $(shell pkg-config --cflags fmt liburing 2>/dev/null)

# Everything the targets reach: the layer library plus the daemon's xenstore entry parser.
FUZZ_SRC_SRCS    := $(LIB_SRCS) src/daemon/device_entry.cpp src/daemon/backend_path.cpp src/daemon/external_backend.cpp
FUZZ_SRC_OBJS    := $(FUZZ_SRC_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
FUZZ_COMMON_OBJS := $(patsubst %.cpp,$(FUZZ_DIR)/obj/%.o,$(sort $(wildcard tests/fuzz/common/*.cpp)))
FUZZ_LIB         := $(FUZZ_DIR)/lib/libxenvhost-fuzz.a
FUZZ_BINS        := $(FUZZ_ALL:%=$(FUZZ_DIR)/bin/%)

$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/src/base/version.o: FUZZ_CPPFLAGS += $(VERSION_CPPFLAGS)
$(FUZZ_DIR)/obj/src/base/version.o: $(CHANGELOG)

$(FUZZ_LIB): $(FUZZ_SRC_OBJS) $(FUZZ_COMMON_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# Target objects are intermediate files of the pattern chain; keep them.
.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_DIR)/obj/tests/fuzz/targets/%.o)

$(FUZZ_DIR)/bin/%: $(FUZZ_DIR)/obj/tests/fuzz/targets/%.o $(FUZZ_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)

.PHONY: fuzz-build fuzz test-fuzz-replay test-fuzz fuzz-seeds
fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/%)
	@bash tests/fuzz/run-fuzz.sh run $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

test-fuzz-replay:
	@$(MAKE) --no-print-directory -j$(NPROC) $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/%)
	@bash tests/fuzz/run-fuzz.sh replay $(FUZZ_DIR) 0 $(FUZZ_TARGETS)

test-fuzz: test-fuzz-replay

TEST_LEVELS += fuzz

# The seed generator is an ordinary host program; its output is committed.
# It is every tests/fuzz/seeds/*.cpp (a file a target, the writer, main),
# rebuilt when they or the layouts they write change.
FUZZ_SEEDGEN      := $(FUZZ_DIR)/bin/make-seeds
FUZZ_SEEDGEN_SRCS := $(sort $(wildcard tests/fuzz/seeds/*.cpp))
FUZZ_SEEDGEN_HDRS := $(wildcard tests/fuzz/seeds/*.hpp) tests/fuzz/common/bytes.hpp \
  tests/fuzz/common/formats.hpp src/vhost_user/messages.hpp src/virtio/ring_layout.hpp
$(FUZZ_SEEDGEN): $(FUZZ_SEEDGEN_SRCS) $(FUZZ_SEEDGEN_HDRS)
	@mkdir -p $(@D)
	$(CXX) -std=c++2b -O1 -Wall -Wextra -Werror -Isrc -Itests/fuzz $(FUZZ_SEEDGEN_SRCS) -o $@

fuzz-seeds: $(FUZZ_SEEDGEN)
	$(FUZZ_SEEDGEN) tests/fuzz/corpus

# ---------------------------------------------------------------- ThreadSanitizer
# The `tsan` level of `make test`. The threads under test are the worker's
# (one per queue, the control channel, the event loop), so the worker is
# built again with -fsanitize=thread into $(BUILD)/tsan/ and the component
# tests of this build drive it: the test process only plays the guest and
# the front-end, and instrumenting it would double the build. The unit
# tests that start threads (tests/unit/*.cpp naming std::thread) are built
# with TSan into one binary of their own. -O1: the build is what costs
# time here, and TSan's checks dominate the run either way.
# Reports go to files, and any file fails the run; a worker with reports
# also exits 66 on SIGTERM, which the component tests count as unclean.
# tests/fuzz/tsan.supp holds suppressions, each with its reason.
# -Wno-tsan: g++ warns that TSan ignores fences, and the only fences
# (SplitRing) order accesses to guest memory shared with another process,
# which TSan cannot see anyway.
# The leak tests run TSAN_LEAK_CYCLES cycles, without the RSS bound (TSan's
# allocator keeps freed memory); fds and mappings are still checked.
TSAN_DIR         := $(BUILD)/tsan
TSAN_CXXFLAGS    := -O1 -g -Wno-tsan
TSAN_LEAK_CYCLES ?= 2000
TSAN_UNIT_SRCS   := $(shell grep -lE 'std::j?thread' tests/unit/*.cpp 2>/dev/null)
TSAN_UNIT_TESTS  := $(BUILD)/bin/unit-tests-threaded
TSAN_REPORTS     := $(abspath $(TSAN_DIR))/reports
TSAN_ENV         := TSAN_OPTIONS='log_path=$(TSAN_REPORTS)/tsan second_deadlock_stack=1 suppressions=$(abspath tests/fuzz/tsan.supp)'

# Built by the sub-make below, where BUILD is $(TSAN_DIR) and SANITIZE=thread;
# linked like the unit tests (the daemon's archive, then the layer library).
$(TSAN_UNIT_TESTS): $(TSAN_UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o) $(DAEMON_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lgtest_main -lgtest $(LDLIBS)

.PHONY: tsan-programs test-tsan
tsan-programs: $(WORKER) $(TSAN_UNIT_TESTS)

test-tsan: $(BUILD)/bin/component-tests $(BUILD)/lib/libxendouble.so
	@rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS)
	CXXFLAGS='$(TSAN_CXXFLAGS)' $(MAKE) --no-print-directory -j$(NPROC) BUILD=$(TSAN_DIR) SANITIZE=thread tsan-programs
	@status=0; \
	$(TSAN_ENV) $(TSAN_DIR)/bin/unit-tests-threaded --gtest_brief=1 || status=1; \
	$(TSAN_ENV) XENVHOST_WORKER=$(abspath $(TSAN_DIR))/bin/xenvhost-worker \
	  XENVHOST_LEAK_CYCLES=$(TSAN_LEAK_CYCLES) XENVHOST_LEAK_CHECK_RSS=0 \
	  $(BUILD)/bin/component-tests --gtest_brief=1 || status=1; \
	bash tests/fuzz/tsan-reports.sh $(TSAN_REPORTS) && exit $$status

ifeq ($(SANITIZE),)
TEST_LEVELS += tsan
endif
