# Unit tests: every tests/unit/*.cpp, linked with gtest_main, the daemon's
# archive (its state machine and parsers, tests/unit/daemon_*_test.cpp), the
# device model's and the status tool's archives, the bench's pure parts and
# the layer library.
UNIT_SRCS  := $(sort $(wildcard tests/unit/*.cpp))
UNIT_OBJS  := $(UNIT_SRCS:%.cpp=$(BUILD)/obj/%.o)
UNIT_TESTS := $(BUILD)/bin/unit-tests

# The bench's pure parts are included as "bench/...".
$(BUILD)/obj/tests/unit/bench_figures_test.o \
$(BUILD)/obj/tests/unit/bench_backends_test.o: CPPFLAGS += -Itests

$(UNIT_TESTS): $(UNIT_OBJS) $(BENCH_PURE_LIB) $(DAEMON_LIB) $(DM_LIB) $(STATUS_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lgtest_main -lgtest $(LDLIBS)

.PHONY: test-unit
test-unit: $(UNIT_TESTS)
	$(UNIT_TESTS) --gtest_brief=1

TEST_LEVELS += unit
