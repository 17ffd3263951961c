# xen-grant-frontend: the vhost-user front-end whose guest memory is real
# grants (gntalloc), for the grant data path scenario of the Xen level
# (tests/xen/scenarios/20-grant-path.sh). Built into $(BUILD)/bin, so the
# dom0 image carries it; included from tests/xen/rules.mk.
XEN_GRANT_FE      := $(BUILD)/bin/xen-grant-frontend
XEN_GRANT_FE_SRCS := $(sort $(wildcard tests/xen/grant-frontend/*.cpp))
XEN_GRANT_FE_OBJS := $(XEN_GRANT_FE_SRCS:%.cpp=$(BUILD)/obj/%.o)

# Front-end headers are included as "frontend/..."; Xen's public headers need
# the GNU dialect (anonymous unions, __attribute__ spellings).
$(XEN_GRANT_FE_OBJS): CPPFLAGS += -Itests
$(XEN_GRANT_FE_OBJS): CXXFLAGS += -std=gnu++2b

$(XEN_GRANT_FE): $(XEN_GRANT_FE_OBJS) $(FRONTEND_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS) -lxenguest

.PHONY: xen-grant-frontend
xen-grant-frontend: $(XEN_GRANT_FE)

# The image follows the program.
$(XEN_BIN_STAMP): $(XEN_GRANT_FE)
