// xenvhost-dm's MSI-X as a PVHVM Linux guest uses it: the capability, the
// table programmed with Xen's pirq-format messages and its entries left
// masked (Xen masks pirqs itself), a vector per queue; block I/O whose
// completions arrive as MSIs injected with exactly the programmed address
// and data, with one ioreq per kick (no ISR read) and the INTx line never
// raised; a vector with an ordinary (APIC) message held in the PBA while
// masked and sent on unmask; MSI-X disabled again falls back to INTx.
#include "dm_fixture.hpp"

#include "frontend/clock.hpp"

#include <unistd.h>

#include <cstdio>

namespace xenvhost::component {
namespace {

using namespace vstatus;
namespace xd = xendouble;

class DmMsix : public DmTest {
protected:
    std::unique_ptr<BlkGuest> msix_driver(PciGuest& p) {
        auto g = driver(p);
        BringUp o;
        o.msix = true;
        auto up = g->bring_up(o);
        EXPECT_TRUE(up) << up.error().message;
        return g;
    }
    // Until the double has recorded `n` MSIs in all.
    bool wait_msis(uint64_t n) {
        const int64_t deadline = frontend::now_ms() + 5000;
        while (guest_->msi_count() < n && frontend::now_ms() < deadline) ::usleep(1000);
        return guest_->msi_count() >= n;
    }
};

TEST_F(DmMsix, BlockIoCompletesThroughMessagesWithoutTheIsr) {
    auto p = pci_device(0, kBarAddress);
    ASSERT_EQ(p->caps().msix_size, 2u) << "one queue and config";
    ASSERT_EQ(p->caps().msix_bar, 0);
    auto g = msix_driver(*p);
    ASSERT_FALSE(HasFailure());
    EXPECT_EQ(p->msix_control() & 0xc000, 0x8000) << "enabled, function unmasked";
    EXPECT_EQ(mmio_read(*guest_, p->table_entry(1) + 12, 4, 0), 1u) << "the entry is still masked in the table";
    EXPECT_EQ(p->common_read(0x10, 2), 0u) << "config on vector 0";
    EXPECT_EQ(g->capacity(), kImageSize / 512);
    const auto before = guest_->server();

    // One request: its completion is an MSI with vector 1's message.
    const auto data = random_bytes(1, 4096);
    ASSERT_OK(g->submit(BlkCommand::out(8, data)));
    ASSERT_TRUE(wait_msis(1)) << "no MSI after 5 s";
    ASSERT_EQ(p->msis_seen().size(), 1u);
    EXPECT_EQ(p->msis_seen().front(), PciGuest::message(1));
    ASSERT_OK_AND_ASSIGN(auto done, g->collect(1));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].status, VIRTIO_BLK_S_OK);
    EXPECT_EQ(first_difference(image_bytes(0, 8 * 512, 4096), data), -1);

    // Batches of 4 KiB and 64 KiB, verified against the image, and a flush.
    ASSERT_NO_FATAL_FAILURE(
        verified_batch(*g, 0, {{0, 4096}, {100, 65536}, {1000, 4096}, {5000, 65536}, {30000, 65536}}, 0x700));
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{40, 4096}, {48, 4096}, {56, 4096}}, 0x710));
    ASSERT_OK(g->submit(BlkCommand::flush()));
    ASSERT_OK_AND_ASSIGN(auto flushed, g->collect(1));
    ASSERT_EQ(flushed.size(), 1u);
    EXPECT_EQ(flushed[0].status, VIRTIO_BLK_S_OK);

    const auto after = guest_->server();
    const auto& msis = p->msis_seen();
    EXPECT_EQ(p->msis_missed(), 0u);
    EXPECT_GE(msis.size(), g->interrupts());
    for (const auto& m : msis) EXPECT_EQ(m, PciGuest::message(1)) << "every MSI is the queue vector's, untouched";
    EXPECT_EQ(g->isr_reads(), 0u);
    EXPECT_EQ(after.counter(xd::kIntxChanges), 0u) << "INTx never raised";
    EXPECT_FALSE(p->line());
    // The guest's only ioreqs during the I/O were its kicks: about one round
    // trip a request, where INTx costs a notify and an ISR read.
    EXPECT_EQ(after.counter(xd::kGuestRequests) - before.counter(xd::kGuestRequests), g->notifies());
    EXPECT_EQ(p->take_interrupt(), 0) << "no queue bit in the ISR with MSI-X";
    EXPECT_EQ(p->status(), kAcknowledge | kDriver | kFeaturesOk | kDriverOk);

    // The counters at exit count the MSIs as interrupts, and on their own.
    const uint64_t injected = guest_->msi_count();
    ASSERT_NO_FATAL_FAILURE(stop_dm_clean());
    const std::string log = dm_->log();
    const auto at = log.rfind("device disk: ");
    ASSERT_NE(at, std::string::npos) << log;
    unsigned long long ioreqs = 0, kicks = 0, calls = 0, interrupts = 0, reconnects = 0, msis_logged = 0;
    char line[8] = {};
    ASSERT_EQ(std::sscanf(log.c_str() + at,
                          "device disk: %llu ioreqs, %llu kicks, %llu calls, %llu interrupts, %llu reconnects "
                          "(line %7[a-z], %llu msis, back-end connected)",
                          &ioreqs, &kicks, &calls, &interrupts, &reconnects, line, &msis_logged),
              7)
        << log.substr(at);
    EXPECT_EQ(interrupts, injected);
    EXPECT_EQ(msis_logged, injected);
    EXPECT_EQ(std::string(line), "low");
    EXPECT_EQ(reconnects, 0u);
}

TEST_F(DmMsix, MaskedVectorPendsThenDisabledFallsBackToIntx) {
    auto p = pci_device(0, kBarAddress);
    auto g = msix_driver(*p);
    ASSERT_FALSE(HasFailure());
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{3, 4096}}, 0x720));

    // Vector 1 with an APIC message (vector 0x41) and masked: the
    // completion waits in the PBA, then comes once, when unmasked.
    const frontend::IoreqGuest::Msi apic{0xfee00000, 0x4041};
    p->program_vector(1, apic);
    const uint64_t before = guest_->msi_count();
    ASSERT_OK(g->submit(BlkCommand::in(0, 4096)));
    const int64_t deadline = frontend::now_ms() + 5000;
    while (mmio_read(*guest_, p->pba(), 8, 0) != 0x2 && frontend::now_ms() < deadline) ::usleep(1000);
    ASSERT_EQ(mmio_read(*guest_, p->pba(), 8, 0), 0x2u) << "vector 1 not pending after 5 s";
    EXPECT_EQ(guest_->msi_count(), before);
    EXPECT_FALSE(p->line());
    p->mask_vector(1, false);
    EXPECT_EQ(guest_->msi_count(), before + 1);
    ASSERT_FALSE(p->msis_seen().empty());
    EXPECT_EQ(p->msis_seen().back(), apic);
    EXPECT_EQ(mmio_read(*guest_, p->pba(), 8, 0), 0u);
    ASSERT_OK_AND_ASSIGN(auto done, g->collect(1));
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(g->isr_reads(), 0u);

    // Hostile table accesses through the ioreq path change nothing.
    EXPECT_EQ(mmio_read(*guest_, p->table_entry(1), 2, 0), 0xffffu);
    mmio_write(*guest_, p->table_entry(1) + 1, 4, 0, 0);
    mmio_write(*guest_, p->table_entry(2), 4, 0, 0);  // beyond the table
    mmio_write(*guest_, p->pba(), 8, ~uint64_t{0}, 0);
    EXPECT_EQ(mmio_read(*guest_, p->table_entry(1), 8, 0), apic.address);
    EXPECT_EQ(mmio_read(*guest_, p->pba(), 8, 0), 0u);

    // MSI-X disabled: completions come on INTx and the ISR again.
    p->disable_msix();
    const uint64_t msis = guest_->msi_count();
    ASSERT_OK(g->submit(BlkCommand::in(0, 4096)));
    ASSERT_OK(g->wait_line(true));
    EXPECT_EQ(p->take_interrupt(), 0x1);
    EXPECT_FALSE(p->line());
    std::vector<BlkCompletion> got;
    ASSERT_OK(g->drain(got));
    ASSERT_EQ(got.size(), 1u);
    ASSERT_NO_FATAL_FAILURE(verified_batch(*g, 0, {{8, 4096}, {16, 65536}}, 0x730));
    EXPECT_EQ(guest_->msi_count(), msis);
}

}  // namespace
}  // namespace xenvhost::component
