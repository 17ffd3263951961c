# Scripts level: xl-scripts/ (xenvhost-create, xenvhost-status) against the
# real C xenstored 4.17 behind the xenstore level's fakexen.so shim, with the
# real xenvhostd and worker and a fake `xl` that writes xenstore the way
# libxl does; shellcheck of every shell script of the project's toolstack
# files; `make install` into a temporary DESTDIR, checked file by file, with
# systemd-analyze verify on the installed units; the man pages against the
# programs' --help; the Debian package (`make deb`: contents, versions,
# maintainer scripts, lintian).
#
#   make test-scripts
#   make test-scripts SCRIPTS_CASES=xl:man   only these groups (lint, xl, install, man, hvm, deb)

SCRIPTS_DIR     := $(BUILD)/tests/scripts
SCRIPTS_XSLIBXL := $(SCRIPTS_DIR)/xs-libxl
SCRIPTS_NOTIFY  := $(SCRIPTS_DIR)/notify-listen
SCRIPTS_CASES   ?=

$(BUILD)/obj/tests/scripts/xs_libxl.o: CPPFLAGS += -I. -Itests

# systemd's end of Type=notify, to see xenvhostd's READY=1.
$(SCRIPTS_NOTIFY): $(BUILD)/obj/tests/scripts/notify_listen.o $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

# load_tree() comes from the xenstore level's harness (it knows where the
# fixtures in xenstore/examples are).
$(SCRIPTS_XSLIBXL): $(BUILD)/obj/tests/scripts/xs_libxl.o $(BUILD)/obj/tests/xenstore/harness.o $(LIB)
	@mkdir -p $(@D)
	$(CXX) $(LDFLAGS) $(CXXFLAGS) $^ -o $@ $(LDLIBS)

.PHONY: test-scripts
test-scripts: $(SCRIPTS_XSLIBXL) $(SCRIPTS_NOTIFY) $(BUILD)/lib/fakexen.so $(WORKER) $(DAEMON) $(DM) $(STATUS)
	@BUILD=$(abspath $(BUILD)) XS_LIBXL=$(abspath $(SCRIPTS_XSLIBXL)) NOTIFY_LISTEN=$(abspath $(SCRIPTS_NOTIFY)) \
	  FAKEXEN=$(abspath $(BUILD)/lib/fakexen.so) \
	  WORKER=$(abspath $(WORKER)) DAEMON=$(abspath $(DAEMON)) DEVICE_MODEL=$(abspath $(DM)) STATUS=$(abspath $(STATUS)) SCRIPTS_CASES='$(SCRIPTS_CASES)' \
	  bash tests/scripts/run.sh

TEST_LEVELS += scripts
