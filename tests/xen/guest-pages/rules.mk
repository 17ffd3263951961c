# xen-guest-pages: the program the test domU runs to offer dom0 some of its
# memory (pinned frames for foreign mappings, gntalloc grants). Statically
# linked into $(BUILD)/xen/, where the domU's initramfs picks it up; the
# domU's init runs it when its kernel command line asks (see tests/xen/domU/init).
XEN_GUEST_PAGES := $(BUILD)/xen/xen-guest-pages

$(XEN_GUEST_PAGES): tests/xen/guest-pages/main.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -static $< -o $@
