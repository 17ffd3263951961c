#include "memory/plain_memory.hpp"

#include <cstring>

namespace xenvhost::memory {

Result<RingMapping> PlainMemory::map_ring(uint64_t gpa, uint64_t len, bool) const {
    auto span = table_.translate(gpa, len);
    if (span.size() != len)
        return fail_as(ErrorKind::kGuestFault, "ring area gpa {:#x} len {:#x} is not inside one memory region", gpa, len);
    return RingMapping{span.data(), shared_from_this()};
}

bool PlainMemory::read(uint64_t gpa, std::span<uint8_t> dst) const {
    size_t done = 0;
    while (done < dst.size()) {
        auto span = table_.translate(gpa + done, dst.size() - done);
        if (span.empty()) return false;
        std::memcpy(dst.data() + done, span.data(), span.size());
        done += span.size();
    }
    return true;
}

Result<> PlainMemory::map_buffers(std::span<const GuestBuffer> buffers, MappedBuffers& out) const {
    for (const auto& b : buffers) {
        auto& list = b.writable ? out.in : out.out;
        uint64_t done = 0;
        // A buffer that crosses a region boundary becomes several iovecs.
        while (done < b.len) {
            auto span = table_.translate(b.gpa + done, b.len - done);
            if (span.empty())
                return fail_as(ErrorKind::kGuestFault, "buffer gpa {:#x} len {} lies outside guest memory", b.gpa, b.len);
            list.push_back(iovec{span.data(), span.size()});
            done += span.size();
        }
    }
    out.keep = shared_from_this();
    return {};
}

}  // namespace xenvhost::memory
