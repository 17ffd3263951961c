# Component tests: the worker binary over a real unix socket, driven by the
# in-tree front-end (tests/frontend). XENVHOST_WORKER overrides the worker
# path; XENVHOST_COMPONENT_BACKEND=qsd runs the same cases against
# qemu-storage-daemon (the reference back-end).
COMPONENT_SRCS  := $(sort $(wildcard tests/component/*.cpp))
COMPONENT_OBJS  := $(COMPONENT_SRCS:%.cpp=$(BUILD)/obj/%.o)
COMPONENT_TESTS := $(BUILD)/bin/component-tests

$(COMPONENT_OBJS): CPPFLAGS += -Itests -DXENVHOST_BUILD_BIN='"$(abspath $(BUILD)/bin)"'

$(COMPONENT_TESTS): $(COMPONENT_OBJS) $(BUILD)/lib/libfrontend.a $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ -lgtest_main -lgtest $(LDLIBS)

.PHONY: test-component
test-component: $(COMPONENT_TESTS) $(WORKER) $(DM)
	$(COMPONENT_TESTS) --gtest_brief=1

TEST_LEVELS += component
