# The in-tree vhost-user front-end (tests/frontend), a static library used by
# the component tests and the load generator. Defines no test level.
FRONTEND_SRCS := $(sort $(wildcard tests/frontend/*.cpp))
FRONTEND_OBJS := $(FRONTEND_SRCS:%.cpp=$(BUILD)/obj/%.o)
FRONTEND_LIB  := $(BUILD)/lib/libfrontend.a

# Front-end headers are included as "frontend/...".
$(FRONTEND_OBJS): CPPFLAGS += -Itests

$(FRONTEND_LIB): $(FRONTEND_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

.PHONY: frontend
frontend: $(FRONTEND_LIB)
