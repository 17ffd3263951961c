#include "map_cost.hpp"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <vector>

namespace xenvhost::grantfe {

namespace {

// What the touches read ends up here, so they cannot be optimised away.
volatile uint8_t g_sink = 0;

double now_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
}

// Reads every page; writes back what it read where the mapping is writable,
// so the pages' contents do not change.
uint8_t touch(const GrantMapping& m, bool writable) {
    uint8_t sum = 0;
    for (uint32_t i = 0; i < m.count(); ++i) {
        volatile uint8_t* p = m.page(i);
        const uint8_t v = *p;
        if (writable) *p = v;
        sum = static_cast<uint8_t>(sum + v);
    }
    return sum;
}

Result<GrantMapping> map(xengnttab_handle* tab, uint32_t domid, std::vector<uint32_t>& refs, bool writable) {
    void* addr = xengnttab_map_domain_grant_refs(tab, static_cast<uint32_t>(refs.size()), domid, refs.data(),
                                                 PROT_READ | (writable ? PROT_WRITE : 0));
    if (!addr) return fail_errno("xengnttab_map_domain_grant_refs({} refs of domain {})", refs.size(), domid);
    return GrantMapping(tab, addr, static_cast<uint32_t>(refs.size()));
}

Result<void> unmap(GrantMapping& m) {
    if (m.reset() != 0) return fail_errno("xengnttab_unmap");
    return {};
}

Result<void> batched(xengnttab_handle* tab, const RequestShape& s, uint8_t& sink) {
    std::vector<uint32_t> ro{s.header_ref};
    std::vector<uint32_t> rw(s.data_refs.begin(), s.data_refs.end());
    rw.push_back(s.status_ref);
    auto hdr = map(tab, s.domid, ro, false);
    if (!hdr) return std::unexpected(hdr.error());
    auto data = map(tab, s.domid, rw, true);
    if (!data) return std::unexpected(data.error());
    sink = static_cast<uint8_t>(sink + touch(*hdr, false) + touch(*data, true));
    if (auto r = unmap(*data); !r) return r;
    return unmap(*hdr);
}

Result<void> per_access(xengnttab_handle* tab, const RequestShape& s, uint8_t& sink) {
    auto one = [&](uint32_t ref, bool writable) -> Result<void> {
        std::vector<uint32_t> refs{ref};
        auto m = map(tab, s.domid, refs, writable);
        if (!m) return std::unexpected(m.error());
        sink = static_cast<uint8_t>(sink + touch(*m, writable));
        return unmap(*m);
    };
    if (auto r = one(s.header_ref, false); !r) return r;
    for (uint32_t ref : s.data_refs)
        if (auto r = one(ref, true); !r) return r;
    return one(s.status_ref, true);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

constexpr unsigned kRoundsPerChunk = 5;
constexpr size_t kMinChunks = 5;

}  // namespace

// The two ways alternate in short chunks, so that a change in the machine's
// load (the other guest, the host under TCG) hits both alike; each way's
// figure is its median chunk.
Result<MapCost> measure_map_cost(xengnttab_handle* tab, const RequestShape& shape, double seconds) {
    if (shape.data_refs.empty()) return fail("a request shape needs at least one data page");
    uint8_t sink = 0;
    auto one_batched = [&] { return batched(tab, shape, sink); };
    auto one_per_access = [&] { return per_access(tab, shape, sink); };
    // One untimed round each faults in whatever the first map costs once.
    if (auto r = one_batched(); !r) return std::unexpected(r.error());
    if (auto r = one_per_access(); !r) return std::unexpected(r.error());

    std::vector<double> batched_chunks, per_access_chunks;
    auto chunk = [&](auto& fn, std::vector<double>& out) -> Result<void> {
        const double t0 = now_us();
        for (unsigned i = 0; i < kRoundsPerChunk; ++i)
            if (auto r = fn(); !r) return r;
        out.push_back((now_us() - t0) / kRoundsPerChunk);
        return {};
    };
    const double end = now_us() + 2 * seconds * 1e6;
    while (now_us() < end || batched_chunks.size() < kMinChunks) {
        if (auto r = chunk(one_batched, batched_chunks); !r) return std::unexpected(r.error());
        if (auto r = chunk(one_per_access, per_access_chunks); !r) return std::unexpected(r.error());
    }
    g_sink = sink;

    MapCost cost;
    cost.batched_us = median(batched_chunks);
    cost.batched_maps = 2;
    cost.batched_rounds = static_cast<unsigned>(batched_chunks.size()) * kRoundsPerChunk;
    cost.per_access_us = median(per_access_chunks);
    cost.per_access_maps = static_cast<unsigned>(shape.data_refs.size()) + 2;
    cost.per_access_rounds = static_cast<unsigned>(per_access_chunks.size()) * kRoundsPerChunk;
    return cost;
}

}  // namespace xenvhost::grantfe
