# Heap allocations per request of every guest-memory mapping strategy,
# counted by a replaced operator new: its own binary (the replacement must
# not reach the other tests), run under the Xen mapping double so grant and
# foreign mappings are real. Part of the component level.
ALLOC_SRCS  := $(sort $(wildcard tests/alloc/*.cpp))
ALLOC_OBJS  := $(ALLOC_SRCS:%.cpp=$(BUILD)/obj/%.o)
ALLOC_TESTS := $(BUILD)/bin/alloc-tests

$(ALLOC_OBJS): CPPFLAGS += -Itests

$(ALLOC_TESTS): $(ALLOC_OBJS) $(BUILD)/lib/libfrontend.a $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lgtest_main -lgtest $(LDLIBS)

# The double is preloaded ahead of any sanitizer runtime (see tests/xendouble/README.md).
.PHONY: test-alloc
test-alloc: $(ALLOC_TESTS) $(BUILD)/lib/libxendouble.so
	ASAN_OPTIONS="$${ASAN_OPTIONS:+$$ASAN_OPTIONS:}verify_asan_link_order=0" \
	  LD_PRELOAD=$(abspath $(BUILD)/lib/libxendouble.so) $(ALLOC_TESTS) --gtest_brief=1

test-component: test-alloc
