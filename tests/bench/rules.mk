# The load generator: the test front-end driving the worker and
# qemu-storage-daemon in one run (`make bench`; not part of `make test`).
BENCH_SRCS := $(sort $(wildcard tests/bench/*.cpp))
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)
BENCH      := $(BUILD)/bin/xenvhost-bench
BENCH_ARGS ?=

$(BENCH_OBJS): CPPFLAGS += -Itests -DXENVHOST_BUILD_BIN='"$(abspath $(BUILD)/bin)"'

$(BENCH): $(BENCH_OBJS) $(BUILD)/lib/libfrontend.a $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

.PHONY: bench
bench: $(BENCH) $(WORKER)
	$(BENCH) $(BENCH_ARGS)
