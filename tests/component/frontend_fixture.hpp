#pragma once
// What the front-end component tests share: the real worker serving a Xen
// guest through the mapping double, restartable on the same socket, image
// and guest memory (as a supervisor restarts a crashed worker); the device
// model's event loop, pumped by the test until an interrupt or a deadline;
// and the guest's virtio-blk driver laying its queues out in the double's
// memory file and driving them through the VirtioDevice interface.

#include "event/event_loop.hpp"
#include "fixture.hpp"
#include "frontend/blk_queue.hpp"
#include "frontend/vhost_user_frontend.hpp"
#include "frontend/xen_double_files.hpp"
#include "transport/virtio_device.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <vector>

namespace xenvhost::component {

namespace fe = xenvhost::frontend;
namespace vf = xenvhost::vhost_frontend;

// The transport's side of the interrupts: counted, and the loop stopped as
// soon as what the test waits for has happened.
struct RecordingSink : transport::InterruptSink {
    std::vector<unsigned> queue_interrupts = std::vector<unsigned>(8);
    unsigned config_interrupts = 0;
    unsigned broken = 0;
    std::function<void()> on_event;

    void queue_interrupt(uint16_t index) override;
    void config_interrupt() override;
    void device_broken() override;
};

// The guest's driver of one queue.
struct GuestQueue {
    std::unique_ptr<SplitQueue> ring;
    std::unique_ptr<BlkQueue> blk;
};

class FrontendTest : public ::testing::Test {
protected:
    static constexpr uint32_t kDomid = 7;
    static constexpr uint64_t MiB = 1ull << 20;
    // RAM with holes, as a PC guest has it: low memory, a hole, the rest.
    static constexpr uint64_t kHoleStart = 24 * MiB, kHoleEnd = 28 * MiB, kGuestEnd = 32 * MiB;

    void SetUp() override;
    void TearDown() override;

    // Starts (or restarts) the worker on the same socket; `xen` false leaves
    // out --domid and the double: a back-end that cannot map Xen memory.
    void start_worker(bool xen = true);
    void kill_worker();
    vf::FrontendConfig config() const;
    Result<std::unique_ptr<vf::VhostUserFrontend>> make_frontend(const vf::FrontendConfig& cfg);
    // Runs the loop until `done` holds (checked on every interrupt and every
    // 10 ms) or `timeout_ms` passed; returns `done()`.
    bool pump_until(const std::function<bool()>& done, int timeout_ms = 10000);

    // Lays out `count` queues in guest RAM (above the first MiB).
    std::vector<transport::QueueConfig> setup_guest(unsigned count, uint16_t size = 128);
    // The driver submits `cmd` on queue `q` and notifies the device.
    void submit(unsigned q, const BlkCommand& cmd);
    // Collects `n` completions of queue `q`, pumping the loop between looks.
    std::vector<BlkCompletion> complete(unsigned q, size_t n, int timeout_ms = 15000);
    // Write then read back through queue `q`, checked against the image file.
    void verified_io(unsigned q, uint64_t sector, uint32_t len, uint64_t seed);
    std::vector<uint8_t> image_bytes(uint64_t offset, size_t len);

    std::unique_ptr<TempDir> dir_;
    std::string socket_, image_;
    std::unique_ptr<fe::XenDoubleFiles> files_;
    std::unique_ptr<BackendProcess> worker_;
    std::unique_ptr<event::EventLoop> loop_;
    RecordingSink sink_;
    std::unique_ptr<vf::VhostUserFrontend> dev_;
    GuestMemory mem_;
    GpaAddressing gpa_;
    std::vector<GuestQueue> queues_;
};

}  // namespace xenvhost::component
