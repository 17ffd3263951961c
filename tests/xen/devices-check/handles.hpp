#pragma once
// Owning wrappers for the Xen library handles, mappings and ports the device
// checks use, so every early return releases what was set up before it.

// The Xen 4.17 headers declare C functions without extern "C" guards.
// xenctrl.h first: it defines __XEN_TOOLS__, which the other Xen headers need.
extern "C" {
#include <xenctrl.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xentoollog.h>
}

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>

namespace xenvhost::xencheck {

template <auto Close>
struct Closer {
    template <typename T>
    void operator()(T* handle) const { Close(handle); }
};

using XcHandle = std::unique_ptr<xc_interface, Closer<xc_interface_close>>;
using GnttabHandle = std::unique_ptr<xengnttab_handle, Closer<xengnttab_close>>;
using GntshrHandle = std::unique_ptr<xengntshr_handle, Closer<xengntshr_close>>;
using ForeignHandle = std::unique_ptr<xenforeignmemory_handle, Closer<xenforeignmemory_close>>;
using EvtchnHandle = std::unique_ptr<xenevtchn_handle, Closer<xenevtchn_close>>;

// A library logger that prints only critical messages: for handles whose
// calls are expected to fail, so the expected refusal is not logged as an error.
struct QuietLoggerDeleter {
    void operator()(xentoollog_logger_stdiostream* l) const {
        xtl_logger_destroy(reinterpret_cast<xentoollog_logger*>(l));
    }
};
using QuietLogger = std::unique_ptr<xentoollog_logger_stdiostream, QuietLoggerDeleter>;
inline QuietLogger make_quiet_logger() {
    return QuietLogger(xtl_createlogger_stdiostream(stderr, XTL_CRITICAL, 0));
}
inline xentoollog_logger* as_logger(const QuietLogger& l) { return reinterpret_cast<xentoollog_logger*>(l.get()); }

inline constexpr size_t kXenPageSize = 4096;

// A run of pages obtained from a Xen library handle and given back with
// Unmap(handle, addr, pages): gntdev mappings, gntalloc shares, privcmd maps.
template <typename Handle, auto Unmap>
class Pages {
public:
    Pages() = default;
    Pages(Handle* handle, void* addr, size_t pages) : handle_(handle), addr_(addr), pages_(pages) {}
    Pages(const Pages&) = delete;
    Pages& operator=(const Pages&) = delete;
    Pages(Pages&& o) noexcept
        : handle_(o.handle_), addr_(std::exchange(o.addr_, nullptr)), pages_(std::exchange(o.pages_, 0)) {}
    Pages& operator=(Pages&& o) noexcept {
        if (this != &o) {
            reset();
            handle_ = o.handle_;
            addr_ = std::exchange(o.addr_, nullptr);
            pages_ = std::exchange(o.pages_, 0);
        }
        return *this;
    }
    ~Pages() { reset(); }

    uint8_t* page(size_t i) const { return static_cast<uint8_t*>(addr_) + i * kXenPageSize; }
    size_t count() const { return pages_; }

    // Returns the library's status, for callers that check the unmap itself.
    int reset() {
        int rc = 0;
        if (addr_) rc = Unmap(handle_, addr_, pages_);
        addr_ = nullptr;
        pages_ = 0;
        return rc;
    }

private:
    Handle* handle_ = nullptr;
    void* addr_ = nullptr;
    size_t pages_ = 0;
};

using GrantMapping = Pages<xengnttab_handle, xengnttab_unmap>;
using SharedPages = Pages<xengntshr_handle, xengntshr_unshare>;
using ForeignMapping = Pages<xenforeignmemory_handle, xenforeignmemory_unmap>;

// An event-channel port bound through a xenevtchn handle.
class BoundPort {
public:
    BoundPort(xenevtchn_handle* handle, evtchn_port_t port) : handle_(handle), port_(port) {}
    BoundPort(const BoundPort&) = delete;
    BoundPort& operator=(const BoundPort&) = delete;
    ~BoundPort() { xenevtchn_unbind(handle_, port_); }

    evtchn_port_t port() const { return port_; }

private:
    xenevtchn_handle* handle_;
    evtchn_port_t port_;
};

}  // namespace xenvhost::xencheck
