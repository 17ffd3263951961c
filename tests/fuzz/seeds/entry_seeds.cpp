// fuzz_xenstore_entry seeds: the backend trees libxl 4.17 to 4.19 writes for
// disks and generic virtio devices (some of types with external back-ends),
// and one with malformed values.

#include "common/bytes.hpp"
#include "common/formats.hpp"
#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <string>
#include <utility>
#include <vector>

namespace xenvhost::fuzz::seeds {
namespace {

void entry_seed(const std::string& name, uint8_t kind, uint16_t domid, uint16_t devid,
                const std::vector<std::pair<std::string, std::string>>& keys) {
    ByteWriter w;
    w.u8(kind).u16(domid).u16(devid);
    for (const auto& [k, v] : keys) w.u8(kEntryCustomKey).str8(k).str8(v);
    write_seed("fuzz_xenstore_entry", name, w);
}

}  // namespace

void entry_seeds() {
    entry_seed("disk-4.17", 0, 5, 51712,
               {{"frontend", "/local/domain/5/device/virtio_disk/51712"}, {"params", "/srv/g.img"}, {"frontend-id", "5"},
                {"online", "1"}, {"removable", "0"}, {"bootable", "1"}, {"state", "1"}, {"dev", "xvda"},
                {"type", "standalone"}, {"mode", "w"}, {"device-type", "disk"}, {"discard-enable", "1"},
                {"specification", "virtio"}, {"transport", "mmio"}, {"base", "0"}, {"irq", "0"}});
    entry_seed("disk-4.19-cdrom", 0, 12, 768,
               {{"params", "/srv/cd.iso"}, {"frontend-id", "12"}, {"dev", "hdc"}, {"type", "standalone"}, {"mode", "r"},
                {"device-type", "cdrom"}, {"discard-enable", "0"}, {"specification", "virtio"}, {"transport", "mmio"},
                {"grant_usage", "1"}, {"base", "33554432"}, {"irq", "33"}});
    entry_seed("virtio-4.18", 1, 5, 0,
               {{"frontend-id", "5"}, {"type", "virtio,device2"}, {"transport", "mmio"}, {"grant_usage", "1"},
                {"base", "0x2000000"}, {"irq", "33"}, {"params", "/srv/v.img"}});
    entry_seed("virtio-no-params", 1, 9, 1,
               {{"frontend-id", "9"}, {"type", "virtio,device1a"}, {"transport", "mmio"}, {"base", "0x2000200"},
                {"irq", "034"}});
    // The target configures an external back-end for virtio,device22, and
    // for virtio,device2 when the devid is odd: neither needs params.
    entry_seed("virtio-external-i2c", 1, 7, 2,
               {{"frontend-id", "7"}, {"type", "virtio,device22"}, {"transport", "mmio"}, {"grant_usage", "1"},
                {"base", "0x2000400"}, {"irq", "35"}});
    entry_seed("virtio-external-blk", 1, 7, 3,
               {{"frontend-id", "7"}, {"type", "virtio,device2"}, {"transport", "mmio"}, {"grant_usage", "0"},
                {"base", "0"}, {"irq", "0"}});
    entry_seed("disk-bad-values", 0, 3, 51728,
               {{"params", "srv/relative.img"}, {"frontend-id", "03"}, {"mode", "rw"}, {"base", "0x"}, {"irq", "4294967296"}});
}

}  // namespace xenvhost::fuzz::seeds
