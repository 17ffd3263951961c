/*
 * Test harness only: an LD_PRELOAD shim that lets the real C xenstored 4.17
 * run without a hypervisor. It fakes the Xen library calls xenstored makes
 * and keeps all state in files under $FAKEXEN_DIR:
 *   xsd_port, xsd_kva   dom0's event-channel port and ring page (/proc/xen/xsd_port, xsd_kva)
 *   ring-<domid>        a guest's xenstore ring page (grant map)
 *   evtchn              a FIFO; a 4-byte port written there becomes pending
 *   dead-<domid>        makes xc_domain_getinfo report that domain gone
 * Killing a guest: create dead-<domid>, then write port 1 (VIRQ_DOM_EXC)
 * into the FIFO; xenstored then fires @releaseDomain.
 */
#define _GNU_SOURCE
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xengnttab.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
#define VIRQ_PORT 1
#define FIRST_INTERDOMAIN_PORT 10

static const char *dir(void) {
    const char *d = getenv("FAKEXEN_DIR");
    if (!d || !*d) {
        fprintf(stderr, "fakexen: FAKEXEN_DIR is not set\n");
        abort();
    }
    return d;
}

static void debug(const char *fmt, ...) {
    if (!getenv("FAKEXEN_DEBUG")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fakexen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void path_of(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", dir(), name); }

/* Real opens go through the system call so the open() override cannot recurse. */
static int raw_open(const char *path, int flags, mode_t mode) {
    return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static int page_file(const char *name) {
    char path[4096];
    path_of(path, sizeof path, name);
    int fd = raw_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (ftruncate(fd, PAGE) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int open(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (strcmp(path, "/proc/xen/xsd_port") == 0) {
        char p[4096];
        path_of(p, sizeof p, "xsd_port");
        int fd = raw_open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (write(fd, "1", 1) != 1) debug("short write to %s", p);
            close(fd);
        }
        debug("open %s", path);
        return raw_open(p, O_RDONLY | O_CLOEXEC, 0);
    }
    if (strcmp(path, "/proc/xen/xsd_kva") == 0) {
        debug("open %s", path);
        return page_file("xsd_kva");
    }
    return raw_open(path, flags, mode);
}

/* ---- libxenctrl */
static int dummy_xc;

xc_interface *xc_interface_open(xentoollog_logger *logger, xentoollog_logger *dombuild_logger,
                                unsigned open_flags) {
    (void)logger, (void)dombuild_logger, (void)open_flags;
    debug("xc_interface_open");
    return (xc_interface *)&dummy_xc;
}

int xc_interface_close(xc_interface *xch) {
    (void)xch;
    return 0;
}

int xc_domain_getinfo(xc_interface *xch, uint32_t first_domid, unsigned int max_doms, xc_dominfo_t *info) {
    (void)xch;
    char path[4096], name[64];
    snprintf(name, sizeof name, "dead-%u", first_domid);
    path_of(path, sizeof path, name);
    if (max_doms == 0 || access(path, F_OK) == 0) {
        debug("xc_domain_getinfo %u: gone", first_domid);
        return 0;
    }
    memset(info, 0, sizeof *info);
    info->domid = first_domid;
    info->running = 1;
    debug("xc_domain_getinfo %u: running", first_domid);
    return 1;
}

/* ---- libxengnttab */
static int dummy_gnttab;

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger, unsigned open_flags) {
    (void)logger, (void)open_flags;
    return (xengnttab_handle *)&dummy_gnttab;
}

int xengnttab_close(xengnttab_handle *xgt) {
    (void)xgt;
    return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants) {
    (void)xgt, (void)nr_grants;
    return 0;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid, uint32_t ref, int prot) {
    (void)xgt, (void)ref;
    char name[64];
    snprintf(name, sizeof name, "ring-%u", domid);
    int fd = page_file(name);
    if (fd < 0) return NULL;
    void *p = mmap(NULL, PAGE, prot, MAP_SHARED, fd, 0);
    close(fd);
    debug("map ring of dom%u", domid);
    return p == MAP_FAILED ? NULL : p;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address, uint32_t count) {
    (void)xgt;
    return munmap(start_address, (size_t)count * PAGE);
}

/* ---- libxenevtchn: one FIFO carries every "pending" port */
struct xenevtchn_handle {
    int fd;
};
static struct xenevtchn_handle evtchn = {-1};
static evtchn_port_t next_port = FIRST_INTERDOMAIN_PORT;

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags) {
    (void)logger, (void)flags;
    if (evtchn.fd >= 0) return &evtchn;
    char path[4096];
    path_of(path, sizeof path, "evtchn");
    if (mkfifo(path, 0600) < 0 && errno != EEXIST) return NULL;
    /* Read-write: opening does not wait for a writer and reads never see EOF. */
    evtchn.fd = raw_open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC, 0);
    return evtchn.fd < 0 ? NULL : &evtchn;
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd, unsigned open_flags) {
    (void)fd;
    return xenevtchn_open(logger, open_flags);
}

int xenevtchn_close(xenevtchn_handle *xce) {
    (void)xce;
    return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce) { return xce->fd; }

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port) {
    (void)xce, (void)port;
    return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                                                     evtchn_port_t remote_port) {
    (void)xce, (void)remote_port;
    debug("bind interdomain dom%u -> port %u", domid, next_port);
    return (xenevtchn_port_or_error_t)next_port++;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq) {
    (void)xce, (void)virq;
    return VIRQ_PORT;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) {
    (void)xce, (void)port;
    return 0;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port) {
    (void)xce, (void)port;
    return 0;
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce) {
    uint32_t port;
    if (read(xce->fd, &port, sizeof port) != (ssize_t)sizeof port) return -1;
    debug("pending port %u", port);
    return (xenevtchn_port_or_error_t)port;
}
