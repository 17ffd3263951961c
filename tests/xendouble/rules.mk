# The Xen mapping test double: libxendouble.so, preloaded into the worker by
# the Xen component tests, overrides libxengnttab, libxenforeignmemory and
# libc stat() so grant and foreign mappings run for real without a
# hypervisor (state in $XENDOUBLE_DIR, see tests/xendouble/state_layout.hpp).
# Defines no test level; test-component depends on the library.
# It also stands in for libxendevicemodel, libxenevtchn and the ioreq
# server's page (xenforeignmemory_map_resource) for a device model; the
# guest's vCPUs are tests/frontend/ioreq_guest.*.
#
# xendouble-mini-dm (tests/xendouble/mini_dm): a minimal device model on the
# real libxen APIs, run under the double by the ioreq double's component test.
#
# xen-map-bench (not part of make test): requests per second on the grant
# path with the worker's batched mapping, against per-access mapping.

XENDOUBLE_LIB  := $(BUILD)/lib/libxendouble.so
XENDOUBLE_SRCS := $(filter-out tests/xendouble/bench_%,$(sort $(wildcard tests/xendouble/*.cpp)))
XENDOUBLE_OBJS := $(XENDOUBLE_SRCS:%.cpp=$(BUILD)/obj/pic/%.o)
# Never sanitized: it is preloaded ahead of the sanitizer runtime.
XENDOUBLE_CXXFLAGS := -std=c++2b -O2 -g -Wall -Wextra -Werror -fPIC -fno-exceptions -pthread

$(BUILD)/obj/pic/tests/xendouble/%.o: tests/xendouble/%.cpp
	@mkdir -p $(@D)
	$(CXX) -Isrc -Itests -MMD -MP $(XENDOUBLE_CXXFLAGS) -c $< -o $@

$(XENDOUBLE_LIB): $(XENDOUBLE_OBJS)
	@mkdir -p $(@D)
	$(CXX) -shared $(XENDOUBLE_CXXFLAGS) $^ -o $@

.PHONY: xendouble
xendouble: $(XENDOUBLE_LIB)

test-component: $(XENDOUBLE_LIB)

MINI_DM      := $(BUILD)/bin/xendouble-mini-dm
MINI_DM_SRCS := $(sort $(wildcard tests/xendouble/mini_dm/*.cpp))
MINI_DM_OBJS := $(MINI_DM_SRCS:%.cpp=$(BUILD)/obj/%.o)

$(MINI_DM_OBJS): CPPFLAGS += -Itests

$(MINI_DM): $(MINI_DM_OBJS)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lxendevicemodel -lxenevtchn -lxenforeignmemory -pthread

# The component tests run it; test-programs builds what they run.
test-component test-programs: $(MINI_DM)

XEN_MAP_BENCH      := $(BUILD)/bin/xen-map-bench
XEN_MAP_BENCH_SRCS := $(sort $(wildcard tests/xendouble/bench_*.cpp))
XEN_MAP_BENCH_OBJS := $(XEN_MAP_BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)

$(XEN_MAP_BENCH_OBJS): CPPFLAGS += -Itests -DXENVHOST_BUILD_BIN='"$(abspath $(BUILD)/bin)"'

$(XEN_MAP_BENCH): $(XEN_MAP_BENCH_OBJS) $(BUILD)/lib/libfrontend.a
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -ldl

.PHONY: xen-map-bench
xen-map-bench: $(XEN_MAP_BENCH) $(XENDOUBLE_LIB) $(WORKER)
