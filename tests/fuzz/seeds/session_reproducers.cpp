// Minimal fuzz_session reproducers of bugs the fuzzers found
// (corpus/fuzz_session/crash-*.bin); they stay in the corpus so
// `make test` replays them.

#include "seeds/guest_layout.hpp"
#include "seeds/session_seed.hpp"
#include "seeds/target_seeds.hpp"

#include <string>

namespace xenvhost::fuzz::seeds {
using namespace vhost_user;

namespace {

const std::string kTarget = "fuzz_session";

// A region whose mmap_offset is not page aligned (2): the guest addresses
// of the rings are aligned, their host addresses are not, and
// SplitRing::map reads the used index through a misaligned atomic (UBSan:
// misaligned address for type Used; SIGBUS on arm64).
void misaligned_mmap_offset() {
    SessionSeed s(queues_cfg(1), 8, 0, {64});
    s.msg(Request::kSetMemTable, kReq, mem_table({raw(MemoryRegion{0, 0x10000, kUaddr, 2})}), {kFdPool0});
    s.msg(Request::kSetVringNum, kReq, state(0, 8));
    s.msg(Request::kSetVringAddr, kReq,
          raw(VringAddr{0, 0, kUaddr + 0x1000, kUaddr + 0x3000, kUaddr + 0x2000, 0}));
    s.msg(Request::kSetVringKick, kReq, u64b(0), {kFdEvent});
    s.msg(Request::kSetFeatures, kReq, u64b(1ull << virtio::kFVersion1));
    write_seed(kTarget, "crash-ring-misaligned-mmap-offset", s.writer(), "crash");
}

// The same through the IOMMU: an IOTLB entry maps an aligned IOVA to a
// user address 2 bytes off alignment.
void misaligned_iotlb() {
    SessionSeed s(queues_cfg(1), 8, 0, {64});
    s.msg(Request::kSetFeatures, kReq,
          u64b(bit(kFeatureProtocolFeatures) | (1ull << virtio::kFVersion1) | bit(virtio::kFAccessPlatform)));
    s.msg(Request::kSetMemTable, kReq, mem_table({raw(MemoryRegion{0, 0x10000, kUaddr, 0})}), {kFdPool0});
    s.msg(Request::kIotlbMsg, kReq, raw(IotlbMsg{0, 0x8000, kUaddr + 2, 3, 2, {}}));
    s.msg(Request::kSetVringNum, kReq, state(0, 8));
    s.msg(Request::kSetVringAddr, kReq, raw(VringAddr{0, 0, 0x1000, 0x3000, 0x2000, 0}));
    s.msg(Request::kSetVringKick, kReq, u64b(0), {kFdEvent});
    s.msg(Request::kSetVringEnable, kReq, state(0, 1));
    write_seed(kTarget, "crash-ring-misaligned-iotlb", s.writer(), "crash");
}

}  // namespace

void session_reproducers() {
    misaligned_mmap_offset();
    misaligned_iotlb();
}

}  // namespace xenvhost::fuzz::seeds
