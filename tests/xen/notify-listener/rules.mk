# sd-notify-listener: the receiving end of systemd's notify protocol, with
# which the Xen level starts the installed xenvhostd.service the way systemd
# would (Type=notify) in a dom0 that has no systemd. Built into $(BUILD)/bin,
# so the dom0 image carries it; included from tests/xen/rules.mk.
XEN_NOTIFY_LISTENER := $(BUILD)/bin/sd-notify-listener

$(XEN_NOTIFY_LISTENER): $(BUILD)/obj/tests/xen/notify-listener/main.o
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@

.PHONY: sd-notify-listener
sd-notify-listener: $(XEN_NOTIFY_LISTENER)

# The image follows the program.
$(XEN_BIN_STAMP): $(XEN_NOTIFY_LISTENER)
