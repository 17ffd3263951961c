# xenvhost — top-level build.
#
#   make            build everything into build/ (binaries in build/bin/)
#   make deps       install every Debian package the build and the tests need
#   make test       run every test level (what .ci/run calls)
#   make install    install into $(DESTDIR)$(PREFIX)
#   make deb        the Debian package: build/deb/xenvhost_VERSION_ARCH.deb, and lintian on it
#
# Test levels have their own fragments in tests/<level>/rules.mk.

BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
CXX      ?= g++
SANITIZE ?=

ifeq ($(origin CXX),default)
CXX := g++
endif

# The one version of the project: the top entry of debian/changelog, which is
# also the package's version; its date is the man pages' date. Only
# src/base/version.cpp gets it, so a new entry rebuilds that one object.
CHANGELOG    := debian/changelog
VERSION      := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' $(CHANGELOG))
VERSION_DATE := $(shell date -u -d "$$(sed -n '/^ -- /{s/^ -- .*>  //p;q}' $(CHANGELOG))" +%Y-%m-%d)
VERSION_CPPFLAGS := -DXENVHOST_VERSION='"$(VERSION)"'
ifeq ($(VERSION),)
$(error no version in $(CHANGELOG))
endif

# The Debian package (`make deb`, below; the Xen level installs it in dom0).
DEB_DIR    := $(BUILD)/deb
DEB_TREE   := $(DEB_DIR)/xenvhost-$(VERSION)
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB        := $(DEB_DIR)/xenvhost_$(VERSION)_$(DEB_ARCH).deb
DEB_INPUTS := Makefile $(shell find src debian man toolstack-hooks xl-scripts -type f 2>/dev/null)

PKGS_LIBS := fmt liburing
CPPFLAGS  += -Isrc -MMD -MP
CXXFLAGS  ?= -O2 -g
CXXFLAGS  += -std=c++2b -Wall -Wextra -Werror -pthread $(shell pkg-config --cflags $(PKGS_LIBS) 2>/dev/null)
XEN_LIBS  := -lxenstore -lxenctrl -lxengnttab -lxenforeignmemory -lxenevtchn -lxendevicemodel -lxentoollog
LDLIBS    += $(shell pkg-config --libs $(PKGS_LIBS) 2>/dev/null) -lboost_program_options $(XEN_LIBS) -lseccomp -pthread

ifneq ($(SANITIZE),)
CXXFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

# One static library of the program-independent layers and shared pieces
# (event loop, control protocol); every program links it.
LIB_DIRS  := src/base src/event src/control src/vhost_user src/virtio src/memory src/queue src/devices src/xen src/sandbox \
             src/transport src/frontend
LIB_SRCS  := $(shell find $(LIB_DIRS) -name '*.cpp' 2>/dev/null | sort)
LIB_OBJS  := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB       := $(BUILD)/lib/libxenvhost.a

# Each program is its main.o over an archive of its other objects, which
# the unit tests link too to test a program's own logic (tests/unit).
WORKER_SRCS := $(shell find src/worker -name '*.cpp' 2>/dev/null | sort)
WORKER_OBJS := $(WORKER_SRCS:%.cpp=$(BUILD)/obj/%.o)
WORKER_MAIN := $(BUILD)/obj/src/worker/main.o
WORKER_LIB  := $(BUILD)/lib/libxenvhost-worker.a
WORKER      := $(BUILD)/bin/xenvhost-worker

DAEMON_SRCS := $(shell find src/daemon -name '*.cpp' 2>/dev/null | sort)
DAEMON_OBJS := $(DAEMON_SRCS:%.cpp=$(BUILD)/obj/%.o)
DAEMON_MAIN := $(BUILD)/obj/src/daemon/main.o
DAEMON_LIB  := $(BUILD)/lib/libxenvhostd.a
DAEMON      := $(BUILD)/bin/xenvhostd

# The device model: one per guest with a virtio transport (an ioreq server
# that emulates virtio-pci / virtio-mmio and is the vhost-user front-end).
DM_SRCS := $(shell find src/device_model -name '*.cpp' 2>/dev/null | sort)
DM_OBJS := $(DM_SRCS:%.cpp=$(BUILD)/obj/%.o)
DM_MAIN := $(BUILD)/obj/src/device_model/main.o
DM_LIB  := $(BUILD)/lib/libxenvhost-dm.a
DM      := $(BUILD)/bin/xenvhost-dm

PROGRAMS := $(WORKER) $(if $(DAEMON_SRCS),$(DAEMON)) $(if $(DM_SRCS),$(DM))

# The operator's status tool (a user command: installed in bin).
STATUS_SRCS := $(shell find src/status -name '*.cpp' 2>/dev/null | sort)
STATUS_OBJS := $(STATUS_SRCS:%.cpp=$(BUILD)/obj/%.o)
STATUS_MAIN := $(BUILD)/obj/src/status/main.o
STATUS_LIB  := $(BUILD)/lib/libxenvhost-status.a
STATUS      := $(BUILD)/bin/xenvhost-status

.PHONY: all
all: $(PROGRAMS) $(STATUS)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/src/base/version.o: CPPFLAGS += $(VERSION_CPPFLAGS)
$(BUILD)/obj/src/base/version.o: $(CHANGELOG)

$(LIB): $(LIB_OBJS)
$(WORKER_LIB): $(filter-out $(WORKER_MAIN),$(WORKER_OBJS))
$(DAEMON_LIB): $(filter-out $(DAEMON_MAIN),$(DAEMON_OBJS))
$(DM_LIB): $(filter-out $(DM_MAIN),$(DM_OBJS))
$(STATUS_LIB): $(filter-out $(STATUS_MAIN),$(STATUS_OBJS))
$(LIB) $(WORKER_LIB) $(DAEMON_LIB) $(DM_LIB) $(STATUS_LIB):
	@mkdir -p $(@D)
	@rm -f $@
	$(AR) rcs $@ $^

# A program's archive comes before the layer library it uses.
$(WORKER): $(WORKER_MAIN) $(WORKER_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(DAEMON): $(DAEMON_MAIN) $(DAEMON_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(DM): $(DM_MAIN) $(DM_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

$(STATUS): $(STATUS_MAIN) $(STATUS_LIB) $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------- tests
TEST_LEVELS :=
include $(sort $(wildcard tests/*/rules.mk))

NPROC := $(shell nproc 2>/dev/null || echo 2)

# What the unit and component levels run, built in one go so that a
# sanitizer tree compiles on every core before its tests run one by one.
.PHONY: test-programs
test-programs: $(PROGRAMS) $(STATUS) $(UNIT_TESTS) $(COMPONENT_TESTS) $(ALLOC_TESTS) $(BUILD)/lib/libxendouble.so

# The sanitizer build lives in its own tree so it never mixes objects.
.PHONY: test-sanitize
test-sanitize:
	$(MAKE) --no-print-directory -j$(NPROC) BUILD=$(BUILD)/asan SANITIZE=address,undefined test-programs
	$(MAKE) --no-print-directory BUILD=$(BUILD)/asan SANITIZE=address,undefined test-unit test-component
ifeq ($(SANITIZE),)
TEST_LEVELS += sanitize
endif

# Fast levels first, so a broken build fails within minutes.
LEVEL_ORDER := unit component xenstore scripts fuzz sanitize tsan qemu xen xen-hvm
ORDERED_LEVELS := $(filter $(TEST_LEVELS),$(LEVEL_ORDER)) $(filter-out $(LEVEL_ORDER),$(TEST_LEVELS))

.PHONY: test
test: all
	@$(MAKE) --no-print-directory -j$(NPROC) test-programs
	@bash tests/run-levels.sh $(ORDERED_LEVELS)

# ---------------------------------------------------------------- deps
# The line before the last is for the package: `make deb` needs
# build-essential, debhelper, dpkg-dev and lintian; dom0's image copies dpkg,
# systemd-sysusers and deb-systemd-helper (init-system-helpers) from this
# host. The last is for the HVM test guest's kernel (make guest-kernel):
# Debian's kernel source and what building it needs.
DEB_PACKAGES := g++ make pkg-config libxen-dev libboost-program-options-dev \
  googletest libgtest-dev liburing-dev libfmt-dev libsystemd-dev nlohmann-json3-dev libseccomp-dev \
  qemu-system-x86 qemu-system-common qemu-system-data qemu-system-xen seabios qemu-utils \
  linux-image-amd64 busybox-static \
  cpio bc kmod gzip xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils \
  shellcheck systemd clang libclang-rt-14-dev xz-utils jq groff-base man-db strace \
  syslinux syslinux-common mtools dosfstools \
  build-essential debhelper dpkg-dev lintian init-system-helpers \
  linux-source-6.1 flex bison libelf-dev libssl-dev patch

# A shell command printing the packages of DEB_PACKAGES not installed yet.
MISSING_PACKAGES = for p in $(DEB_PACKAGES); do \
    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
  done

.PHONY: deps
deps:
	@missing=$$($(MISSING_PACKAGES)); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# ---------------------------------------------------------------- install
# Programs in sbin (xenvhostd runs the xenvhost-worker next to itself), the
# operator's scripts in bin, systemd units with their paths rewritten to this
# installation, the configuration in /etc (never overwritten), man pages, and
# the sysusers.d file of the users guests' workers run as (created at once
# when installing without DESTDIR).
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
INSTALL_SCRIPTS := xl-scripts/xenvhost-create
INSTALL_UNITS   := toolstack-hooks/xenvhostd.service toolstack-hooks/xenvhostd-driverdomain.service
INSTALL_PATHS   := -e 's|/usr/sbin/|$(SBINDIR)/|g' -e 's|/etc/xenvhost/|$(SYSCONFDIR)/xenvhost/|g' \
                   -e 's|/etc/default/|$(SYSCONFDIR)/default/|g'
# The man pages' .TH line gets the version and its date; scripts get the version.
INSTALL_MAN_TH  := -e '/^\.TH /s/"[^"]*" "xenvhost"/"$(VERSION_DATE)" "xenvhost $(VERSION)"/'
INSTALL_VERSION := -e 's/@VERSION@/$(VERSION)/g'

.PHONY: install
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/xenvhost \
	  $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(STATUS) $(DESTDIR)$(BINDIR)/
	for script in $(INSTALL_SCRIPTS); do \
	  sed $(INSTALL_VERSION) $$script >$(DESTDIR)$(BINDIR)/$${script##*/}.tmp && \
	  chmod 0755 $(DESTDIR)$(BINDIR)/$${script##*/}.tmp && \
	  mv $(DESTDIR)$(BINDIR)/$${script##*/}.tmp $(DESTDIR)$(BINDIR)/$${script##*/} || exit 1; \
	done
	for unit in $(INSTALL_UNITS); do \
	  sed $(INSTALL_PATHS) $$unit >$(DESTDIR)$(UNITDIR)/$${unit##*/}.tmp && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${unit##*/}.tmp && \
	  mv $(DESTDIR)$(UNITDIR)/$${unit##*/}.tmp $(DESTDIR)$(UNITDIR)/$${unit##*/} || exit 1; \
	done
	conf=$(DESTDIR)$(SYSCONFDIR)/xenvhost/xenvhost.conf; \
	if [ -e $$conf ]; then echo "install: keeping the existing $$conf"; \
	else sed $(INSTALL_PATHS) toolstack-hooks/xenvhost.conf >$$conf.tmp && chmod 0644 $$conf.tmp && mv $$conf.tmp $$conf; fi
	for page in man/*.[158]; do \
	  dir=$(DESTDIR)$(MANDIR)/man$${page##*.}; \
	  sed $(INSTALL_MAN_TH) $$page >$$dir/$${page##*/}.tmp && grep -q '^\.TH .*"xenvhost $(VERSION)"' $$dir/$${page##*/}.tmp && \
	  chmod 0644 $$dir/$${page##*/}.tmp && mv $$dir/$${page##*/}.tmp $$dir/$${page##*/} || exit 1; \
	done
	install -m 0644 toolstack-hooks/xenvhost.sysusers $(DESTDIR)$(SYSUSERSDIR)/xenvhost.conf
	@# The users guests' workers run as; a staged install leaves that to the package.
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers $(SYSUSERSDIR)/xenvhost.conf; \
	else echo "install: create the users of $(SYSUSERSDIR)/xenvhost.conf on the target (systemd-sysusers)"; fi

# ---------------------------------------------------------------- deb
# dpkg-buildpackage writes its output into the parent of the tree it builds,
# so it builds a copy of this tree (without build/ and .git) at
# $(DEB_TREE), and the package lands in $(DEB_DIR). The copy keeps its own
# build/ (Debian's flags) between runs and is not cleaned first (-nc), so
# an unchanged tree compiles nothing again; debian/'s products are made anew.
# It runs in a clean environment: the caller's BUILD, CXXFLAGS, MAKEFLAGS and
# the like must not reach the copy's make (BUILD would make it use this
# tree's objects, built without Debian's flags).

$(DEB): $(DEB_INPUTS)
	@mkdir -p $(DEB_TREE)
	find $(DEB_TREE) -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
	tar -cf - --exclude=./build --exclude=./$(patsubst $(CURDIR)/%,%,$(abspath $(BUILD))) --exclude=./.git . | tar -xf - -C $(DEB_TREE)
	cd $(DEB_TREE) && env -i PATH="$$PATH" HOME="$$HOME" $${DEB_BUILD_OPTIONS:+DEB_BUILD_OPTIONS="$$DEB_BUILD_OPTIONS"} \
	  dpkg-buildpackage -us -uc -b -nc -J$(NPROC) >../build.log 2>&1 || \
	  { tail -n 40 ../build.log; echo "deb: dpkg-buildpackage failed; see $(DEB_DIR)/build.log"; exit 1; }
	test -f $@

.PHONY: deb
deb: $(DEB)
	lintian --fail-on error --display-level '>=info' $(DEB_DIR)/xenvhost_$(VERSION)_$(DEB_ARCH).changes | tee $(DEB_DIR)/lintian.log
	@echo "deb: $(DEB)"

.PHONY: clean
clean:
	rm -rf $(BUILD)
