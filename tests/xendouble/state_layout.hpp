#pragma once
// The files through which the Xen mapping double (libxendouble.so, preloaded
// into the worker) and the test front-end share one guest's state. They live
// in $XENDOUBLE_DIR and both sides mmap them MAP_SHARED, so what the
// front-end grants or revokes is what the next map call in the worker sees,
// and what the worker writes through a mapping lands in the front-end's
// view of guest memory.

#include <cstdint>

namespace xenvhost::xendouble {

inline constexpr uint64_t kPageSize = 4096;  // Xen frames are 4 KiB

inline constexpr const char* kDirEnv = "XENDOUBLE_DIR";
inline constexpr const char* kDomidEnv = "XENDOUBLE_DOMID";
inline constexpr const char* kDebugEnv = "XENDOUBLE_DEBUG";  // set: log every call to stderr
// "refused": every foreign map of the guest fails page by page with -EPERM,
// as privcmd reports Xen's answer to a domain without privilege over the
// guest (a driver domain under the default XSM policy).
inline constexpr const char* kForeignEnv = "XENDOUBLE_FOREIGN";

// Page N is guest frame N (foreign mappings) and the page of grant ref N
// (grant mappings). Its size fixes the number of pages.
inline constexpr const char* kMemoryFile = "memory";
// One byte per page: a GrantState, for the domain in $XENDOUBLE_DOMID.
inline constexpr const char* kGrantsFile = "grants";
// One byte per page: kFrameMissing makes a foreign map of that frame fail.
inline constexpr const char* kFramesFile = "frames";
// kCounterCount u64, updated atomically by the double.
inline constexpr const char* kCountersFile = "counters";
// One u32 per page: how many live back-end mappings cover it. A guest may
// only revoke a grant whose count is 0 (Linux's gnttab_end_foreign_access
// fails on a page the back-end still maps).
inline constexpr const char* kMapCountFile = "mapcount";

enum GrantState : uint8_t {
    kNotGranted = 0,
    kGrantedReadOnly = 1,
    kGrantedWritable = 2,
};

inline constexpr uint8_t kFramePresent = 0;
inline constexpr uint8_t kFrameMissing = 1;

enum Counter : unsigned {
    kGrantMapCalls,
    kGrantUnmapCalls,
    kGrantPagesMapped,
    kForeignMapCalls,
    kForeignUnmapCalls,
    kForeignPagesMapped,
    kFailures,  // map calls that failed, or foreign maps with a failed page
    kSyscalls,  // mmap/munmap calls the double made to serve map and unmap calls
    kGrantCopyCalls,
    kGrantCopySegments,
    kGrantCopyFailedSegments,  // segments whose status was not GNTST_okay
    kCounterCount,
};

inline constexpr const char* counter_name(unsigned c) {
    constexpr const char* names[kCounterCount] = {
        "grant-map-calls",   "grant-unmap-calls",   "grant-pages-mapped", "foreign-map-calls",
        "foreign-unmap-calls", "foreign-pages-mapped", "failures",           "syscalls",
        "grant-copy-calls",    "grant-copy-segments",  "grant-copy-failed-segments"};
    return c < kCounterCount ? names[c] : "?";
}

}  // namespace xenvhost::xendouble
