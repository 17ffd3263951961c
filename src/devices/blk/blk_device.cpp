#include "devices/blk/blk_device.hpp"

#include "base/log.hpp"
#include "devices/blk/blk_config.hpp"
#include "devices/blk/blk_disk.hpp"
#include "devices/blk/blk_queue.hpp"

#include <linux/virtio_blk.h>

#include <algorithm>
#include <cstring>

namespace xenvhost::devices::blk {

namespace {

class BlkDevice final : public Device {
public:
    BlkDevice(std::shared_ptr<BlkDisk> disk, const DiskShape& shape)
        : disk_(std::move(disk)),
          shape_(shape),
          features_(blk_features(shape)),
          config_(make_blk_config(shape, true)) {}

    std::string_view type() const override { return "block"; }
    uint64_t features() const override { return features_; }

    void set_acked_features(uint64_t acked) override {
        // As QEMU: without CONFIG_WCE the cache mode follows FLUSH (a driver
        // that cannot flush gets writethrough); with it, the driver's choice
        // in the config space (writeback until it writes otherwise) stands.
        if (!(acked & (uint64_t{1} << VIRTIO_BLK_F_CONFIG_WCE)))
            set_writeback(acked & (uint64_t{1} << VIRTIO_BLK_F_FLUSH));
    }

    uint16_t num_queues() const override { return shape_.num_queues; }
    uint16_t max_queue_size() const override { return shape_.queue_size; }

    std::span<const uint8_t> config() const override {
        return {reinterpret_cast<const uint8_t*>(&config_), sizeof config_};
    }

    bool write_config(uint32_t offset, std::span<const uint8_t> data) override {
        auto wce = parse_config_write(offset, data);
        if (!wce) {
            log::warn("blk: {}: config write of {} bytes at offset {} refused (only the "
                      "writeback byte at {} is writable, with 0 or 1)",
                      disk_->file.path, data.size(), offset, kWceOffset);
            return false;
        }
        set_writeback(*wce);
        return true;
    }

    std::unique_ptr<QueueHandler> make_queue_handler(uint16_t index, uint16_t queue_size) override {
        if (index >= shape_.num_queues || queue_size == 0 || queue_size > shape_.queue_size) {
            log::error("blk: {}: no queue {} of size {} (the device has {} queues of at most {})",
                       disk_->file.path, index, queue_size, shape_.num_queues, shape_.queue_size);
            return nullptr;
        }
        auto q = BlkQueue::create(disk_, index, queue_size);
        if (!q) {
            log::error("blk: {}: queue {}: {}", disk_->file.path, index, q.error().message);
            return nullptr;
        }
        return std::move(*q);
    }

    bool refresh_config() override {
        auto size = current_size(disk_->file);
        if (!size) {
            log::warn("blk: {}: cannot read the image size: {}", disk_->file.path, size.error().message);
            return false;
        }
        BackingFile probe;
        probe.size_bytes = *size;
        probe.logical_block_size = disk_->file.logical_block_size;
        const uint64_t sectors = probe.capacity_sectors();
        if (sectors == disk_->capacity_sectors.load()) return false;
        log::info("blk: {}: capacity {} -> {} sectors", disk_->file.path, disk_->capacity_sectors.load(), sectors);
        disk_->capacity_sectors.store(sectors);
        config_.capacity = htole64(sectors);
        return true;
    }

private:
    void set_writeback(bool on) {
        config_.wce = on ? 1 : 0;
        disk_->writeback.store(on, std::memory_order_relaxed);
    }

    std::shared_ptr<BlkDisk> disk_;
    DiskShape shape_;
    uint64_t features_;
    virtio_blk_config config_;
};

}  // namespace

Result<std::unique_ptr<Device>> make_blk_device(const BlkOptions& o) {
    if (auto r = validate_options(o); !r) return std::unexpected(r.error());
    auto file = open_backing_file(o.path, o.read_only, o.cache, o.fd);
    if (!file) return std::unexpected(file.error());

    auto disk = std::make_shared<BlkDisk>();
    disk->file = std::move(*file);
    const DiskShape shape = DiskShape::of(disk->file, o.num_queues, o.queue_size);
    disk->limits = RequestLimits{
        .capacity_sectors = shape.capacity_sectors,
        .block_size = shape.logical_block_size,
        .read_only = shape.read_only,
        .max_discard_sectors = kMaxDiscardSectors,
        .max_write_zeroes_sectors = kMaxWriteZeroesSectors,
    };
    disk->capacity_sectors.store(shape.capacity_sectors);
    std::copy(o.serial.begin(), o.serial.end(), disk->id.begin());
    disk->null_io = o.null_io;
    disk->inline_io = o.io_path == IoPath::kAuto && disk->file.memory_backed;

    log::info("blk: {}: {} sectors of 512 bytes, block size {}, {}{}{}, {} queue(s) of {}{}",
              disk->file.path, shape.capacity_sectors, shape.logical_block_size,
              disk->file.read_only ? "read-only" : "read-write",
              disk->file.direct ? ", O_DIRECT" : "",
              disk->inline_io ? ", in memory: reads and writes copied in the queue thread" : "",
              shape.num_queues, shape.queue_size,
              o.null_io ? "; null I/O: requests complete without I/O, data is not stored" : "");
    return std::make_unique<BlkDevice>(std::move(disk), shape);
}

}  // namespace xenvhost::devices::blk
