#pragma once
// Owning wrappers for the libxengnttab handles this front-end uses: the
// gntshr side (/dev/xen/gntalloc) that grants its pages, and a gnttab side
// (/dev/xen/gntdev) for measuring mappings directly.

// The Xen 4.17 headers declare C functions without extern "C" guards, and
// need __XEN_TOOLS__, which xenctrl.h defines.
extern "C" {
#include <xenctrl.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
#include <xentoollog.h>
}

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <utility>

namespace xenvhost::grantfe {

inline constexpr size_t kXenPageSize = 4096;

template <auto Close>
struct Closer {
    template <typename T>
    void operator()(T* handle) const { Close(handle); }
};

using GntshrHandle = std::unique_ptr<xengntshr_handle, Closer<xengntshr_close>>;
using GnttabHandle = std::unique_ptr<xengnttab_handle, Closer<xengnttab_close>>;
using ForeignHandle = std::unique_ptr<xenforeignmemory_handle, Closer<xenforeignmemory_close>>;

// A library logger that prints only critical messages: for handles whose
// calls are expected to fail, so an expected refusal is not logged as an error.
struct LoggerDeleter {
    void operator()(xentoollog_logger_stdiostream* l) const {
        xtl_logger_destroy(reinterpret_cast<xentoollog_logger*>(l));
    }
};
using QuietLogger = std::unique_ptr<xentoollog_logger_stdiostream, LoggerDeleter>;
inline QuietLogger make_quiet_logger() { return QuietLogger(xtl_createlogger_stdiostream(stderr, XTL_CRITICAL, 0)); }
inline xentoollog_logger* as_logger(const QuietLogger& l) { return reinterpret_cast<xentoollog_logger*>(l.get()); }

// Pages obtained from a library handle and given back with
// Unmap(handle, addr, count): gntdev mappings and gntalloc shares.
template <typename Handle, auto Unmap>
class Pages {
public:
    Pages() = default;
    Pages(Handle* handle, void* addr, uint32_t count) : handle_(handle), addr_(addr), count_(count) {}
    Pages(const Pages&) = delete;
    Pages& operator=(const Pages&) = delete;
    Pages(Pages&& o) noexcept
        : handle_(o.handle_), addr_(std::exchange(o.addr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
    Pages& operator=(Pages&& o) noexcept {
        if (this != &o) {
            reset();
            handle_ = o.handle_;
            addr_ = std::exchange(o.addr_, nullptr);
            count_ = std::exchange(o.count_, 0);
        }
        return *this;
    }
    ~Pages() { reset(); }

    uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
    uint8_t* page(size_t i) const { return data() + i * kXenPageSize; }
    uint32_t count() const { return count_; }
    bool valid() const { return addr_ != nullptr; }

    // Gives up ownership (another owner now unmaps the pages).
    void* release() {
        count_ = 0;
        return std::exchange(addr_, nullptr);
    }

    // The library's status, for callers that check the unmap itself.
    int reset() {
        int rc = 0;
        if (addr_) rc = Unmap(handle_, addr_, count_);
        addr_ = nullptr;
        count_ = 0;
        return rc;
    }

private:
    Handle* handle_ = nullptr;
    void* addr_ = nullptr;
    uint32_t count_ = 0;
};

using GrantMapping = Pages<xengnttab_handle, xengnttab_unmap>;
using SharedPages = Pages<xengntshr_handle, xengntshr_unshare>;

}  // namespace xenvhost::grantfe
