// Self-grant: dom0 grants pages to itself with gntalloc and maps them back
// with gntdev, the path a back-end takes for a guest's granted buffers.

#include <sys/mman.h>

#include <fmt/core.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "checks.hpp"
#include "handles.hpp"
#include "stopwatch.hpp"

namespace xenvhost::xencheck {
namespace {

constexpr uint32_t kSelf = 0;
constexpr int kReadWrite = PROT_READ | PROT_WRITE;
constexpr size_t kReplyOffset = 100;

std::string pattern(std::string_view who, uint32_t index, uint32_t ref) {
    return fmt::format("{}-page{}-ref{}", who, index, ref);
}

bool holds(const uint8_t* page, size_t offset, const std::string& text) {
    return std::memcmp(page + offset, text.c_str(), text.size() + 1) == 0;
}

void put(uint8_t* page, size_t offset, const std::string& text) {
    std::memcpy(page + offset, text.c_str(), text.size() + 1);
}

// Checks that every mapped page shows what the granter wrote, answers through
// the mapping, and that the granter sees the answer.
Result<> round_trip(const SharedPages& shared, const GrantMapping& mapped,
                    const std::vector<uint32_t>& refs, std::string_view who) {
    for (uint32_t i = 0; i < mapped.count(); ++i) {
        if (!holds(mapped.page(i), 0, pattern("granter", i, refs[i])))
            return fail("{}: mapped page {} (ref {}) does not show the granter's bytes", who, i, refs[i]);
        auto reply = pattern(who, i, refs[i]);
        put(mapped.page(i), kReplyOffset, reply);
        if (!holds(shared.page(i), kReplyOffset, reply))
            return fail("{}: write through the mapping of ref {} not seen by the granter", who, refs[i]);
    }
    return {};
}

bool consecutive(const std::vector<uint32_t>& refs) {
    for (size_t i = 1; i < refs.size(); ++i)
        if (refs[i] != refs[i - 1] + 1) return false;
    return true;
}

}  // namespace

Result<std::string> check_grant_self_map(uint32_t pages, unsigned rounds) {
    if (pages == 0 || rounds == 0) return fail("grant check needs at least one page and one round");
    GntshrHandle shr(xengntshr_open(nullptr, 0));
    if (!shr) return fail_errno("xengntshr_open (/dev/xen/gntalloc)");
    GnttabHandle tab(xengnttab_open(nullptr, 0));
    if (!tab) return fail_errno("xengnttab_open (/dev/xen/gntdev)");

    std::vector<uint32_t> refs(pages);
    void* area = xengntshr_share_pages(shr.get(), kSelf, static_cast<int>(pages), refs.data(), 1);
    if (!area) return fail_errno("xengntshr_share_pages({} pages to domid {})", pages, kSelf);
    SharedPages shared(shr.get(), area, pages);
    for (uint32_t i = 0; i < pages; ++i) put(shared.page(i), 0, pattern("granter", i, refs[i]));

    void* one = xengnttab_map_grant_ref(tab.get(), kSelf, refs[0], kReadWrite);
    if (!one) return fail_errno("xengnttab_map_grant_ref(ref {})", refs[0]);
    GrantMapping single(tab.get(), one, 1);
    if (auto r = round_trip(shared, single, refs, "single"); !r) return std::unexpected(r.error());
    if (single.reset() != 0) return fail_errno("xengnttab_unmap of ref {}", refs[0]);

    // All refs in one call: the way a back-end maps every buffer of a request.
    void* many = xengnttab_map_domain_grant_refs(tab.get(), pages, kSelf, refs.data(), kReadWrite);
    if (!many) return fail_errno("xengnttab_map_domain_grant_refs({} refs)", pages);
    GrantMapping batch(tab.get(), many, pages);
    if (auto r = round_trip(shared, batch, refs, "batched"); !r) return std::unexpected(r.error());
    if (batch.reset() != 0) return fail_errno("xengnttab_unmap of {} refs", pages);

    // A ref nobody granted must be refused, not mapped. A separate handle
    // with a quiet logger keeps the expected refusal out of the output.
    QuietLogger quiet = make_quiet_logger();
    if (!quiet) return fail_errno("xtl_createlogger_stdiostream");
    GnttabHandle probe(xengnttab_open(as_logger(quiet), 0));
    if (!probe) return fail_errno("xengnttab_open (/dev/xen/gntdev)");
    uint32_t bogus = refs.back() + 4096;
    void* refused = xengnttab_map_grant_ref(probe.get(), kSelf, bogus, kReadWrite);
    if (refused) {
        GrantMapping leak_guard(probe.get(), refused, 1);
        return fail("xengnttab_map_grant_ref mapped ref {}, which was never granted", bogus);
    }
    int refused_errno = errno;

    Stopwatch clock;
    for (unsigned r = 0; r < rounds; ++r) {
        void* m = xengnttab_map_domain_grant_refs(tab.get(), pages, kSelf, refs.data(), kReadWrite);
        if (!m) return fail_errno("batched map, round {}", r);
        GrantMapping timed(tab.get(), m, pages);
        // Touch every page so the cost of faulting the mapping in is counted.
        for (uint32_t i = 0; i < pages; ++i)
            if (timed.page(i)[0] != shared.page(i)[0]) return fail("batched map, round {}: page {} differs", r, i);
    }
    double per_batch = clock.elapsed_us() / rounds;

    return fmt::format(
        "refs {}..{} ({}consecutive); single map ok; {} refs in one batched map ok; "
        "ungranted ref {} refused (errno {}); batched map+touch+unmap {:.1f} us ({:.1f} us/page, {} rounds)",
        refs.front(), refs.back(), consecutive(refs) ? "" : "not ", pages, bogus, refused_errno, per_batch,
        per_batch / pages, rounds);
}

}  // namespace xenvhost::xencheck
