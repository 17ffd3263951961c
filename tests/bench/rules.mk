# The load generator: the test front-end driving the worker, the worker behind
# its sandbox, the worker with --null-io and qemu-storage-daemon in one run
# (`make bench`; not part of `make test`).
BENCH_SRCS := $(sort $(wildcard tests/bench/*.cpp))
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)
BENCH      := $(BUILD)/bin/xenvhost-bench
BENCH_ARGS ?=

# The bench's pure parts (back-end names, /proc parsing, percentiles,
# targets), which the unit tests link too.
BENCH_PURE_SRCS := tests/bench/backend_set.cpp tests/bench/percentile.cpp tests/bench/proc.cpp \
                   tests/bench/targets.cpp
BENCH_PURE_LIB  := $(BUILD)/lib/libbench-pure.a

$(BENCH_OBJS): CPPFLAGS += -Itests -DXENVHOST_BUILD_BIN='"$(abspath $(BUILD)/bin)"'

$(BENCH_PURE_LIB): $(BENCH_PURE_SRCS:%.cpp=$(BUILD)/obj/%.o)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

$(BENCH): $(BENCH_OBJS) $(BUILD)/lib/libfrontend.a $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

.PHONY: bench
bench: $(BENCH) $(WORKER)
	$(BENCH) $(BENCH_ARGS)
