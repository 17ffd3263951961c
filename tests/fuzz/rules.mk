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
#   make test-tsan            worker, unit and component tests with ThreadSanitizer
#                             (g++) in $(BUILD)/tsan/; fails on any race report
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
FUZZ_ALL      := fuzz_session fuzz_chain fuzz_blk_request fuzz_xen_regions fuzz_xenstore_entry
FUZZ_TARGETS  ?= $(FUZZ_ALL)
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CPPFLAGS := -Itests/fuzz/compat -Isrc -Itests/fuzz -MMD -MP
FUZZ_CXXFLAGS := -std=c++2b -O1 -g -Wall -Wextra -Werror -pthread $(FUZZ_SAN) \
  $(shell pkg-config --cflags fmt liburing 2>/dev/null)

# Everything the targets reach: the layer library plus the daemon's xenstore entry parser.
FUZZ_SRC_SRCS    := $(LIB_SRCS) src/daemon/device_entry.cpp src/daemon/backend_path.cpp
FUZZ_SRC_OBJS    := $(FUZZ_SRC_SRCS:%.cpp=$(FUZZ_DIR)/obj/%.o)
FUZZ_COMMON_OBJS := $(patsubst %.cpp,$(FUZZ_DIR)/obj/%.o,$(sort $(wildcard tests/fuzz/common/*.cpp)))
FUZZ_LIB         := $(FUZZ_DIR)/lib/libxenvhost-fuzz.a
FUZZ_BINS        := $(FUZZ_ALL:%=$(FUZZ_DIR)/bin/%)

$(FUZZ_DIR)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CPPFLAGS) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

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

test-fuzz-replay: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/bin/%)
	@bash tests/fuzz/run-fuzz.sh replay $(FUZZ_DIR) 0 $(FUZZ_TARGETS)

test-fuzz: test-fuzz-replay

TEST_LEVELS += fuzz

# The seed generator is an ordinary host program; its output is committed.
FUZZ_SEEDGEN := $(FUZZ_DIR)/bin/make-seeds
$(FUZZ_SEEDGEN): tests/fuzz/seeds/make_seeds.cpp tests/fuzz/common/bytes.hpp tests/fuzz/common/formats.hpp
	@mkdir -p $(@D)
	$(CXX) -std=c++2b -O1 -Wall -Wextra -Werror -Isrc -Itests/fuzz $< -o $@

fuzz-seeds: $(FUZZ_SEEDGEN)
	$(FUZZ_SEEDGEN) tests/fuzz/corpus

# ---------------------------------------------------------------- ThreadSanitizer
# The threaded code (queue threads, the control channel, the event loops) is
# built again with -fsanitize=thread, worker included, so the component tests
# drive an instrumented worker. Reports go to files, and any file fails the run;
# races a test makes on purpose are listed in tests/fuzz/tsan.supp.
# CXXFLAGS comes through the environment so the Makefile still appends its own;
# -Wno-tsan: g++ warns that TSan ignores fences, and the only fences
# (SplitRing) order accesses to guest memory shared with another process,
# which TSan cannot see anyway.
TSAN_DIR := $(BUILD)/tsan

.PHONY: test-tsan
test-tsan:
	@rm -rf $(TSAN_DIR)/reports && mkdir -p $(TSAN_DIR)/reports
	@status=0; \
	TSAN_OPTIONS='log_path=$(abspath $(TSAN_DIR))/reports/tsan second_deadlock_stack=1 suppressions=$(abspath tests/fuzz/tsan.supp)' \
	CXXFLAGS='-O2 -g -Wno-tsan' \
	  $(MAKE) --no-print-directory BUILD=$(TSAN_DIR) SANITIZE=thread test-unit test-component || status=$$?; \
	bash tests/fuzz/tsan-reports.sh $(TSAN_DIR)/reports && exit $$status
