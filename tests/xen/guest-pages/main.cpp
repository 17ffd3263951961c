// xen-guest-pages: runs inside the test domU and offers some of its memory
// to dom0's test front-end, the way a guest's virtio driver would hold ring
// and buffer pages, then holds them until the domain is destroyed.
//
//   xen-guest-pages pin N          N pages of this process, locked in RAM;
//                                  prints their pseudo-physical frame numbers
//                                  (for foreign mappings: dom0 translates them
//                                  to machine frames)
//   xen-guest-pages grant N DOMID  N pages granted writable to DOMID through
//                                  /dev/xen/gntalloc; prints the grant refs
//
// Output, one line on stdout (the domU's console, which dom0's xenconsoled
// logs): "GUEST-PAGES pin pfns A-B,C,..." or "GUEST-PAGES grant refs ...",
// ranges ascending. Statically linked: the domU's initramfs has no libraries.

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xen/gntalloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kPage = 4096;
constexpr uint64_t kPfnMask = (uint64_t{1} << 55) - 1;  // pagemap bits 0-54
constexpr uint64_t kPresent = uint64_t{1} << 63;

int die(const char* what) {
    std::fprintf(stderr, "xen-guest-pages: %s: %s\n", what, std::strerror(errno));
    return 1;
}

std::string ranges(std::vector<uint64_t> v) {
    std::sort(v.begin(), v.end());
    std::string out;
    for (size_t i = 0; i < v.size();) {
        size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(v[i]);
        if (j > i) out += '-' + std::to_string(v[j]);
        i = j + 1;
    }
    return out;
}

// Pages filled with a recognisable pattern so dom0 can tell they are ours.
void fill(uint8_t* p, size_t pages) {
    for (size_t i = 0; i < pages * kPage; i += 8) std::memcpy(p + i, "guestpg!", 8);
}

int pin(size_t pages) {
    auto* p = static_cast<uint8_t*>(
        mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED,
             -1, 0));
    if (p == MAP_FAILED) return die("mmap of the pinned pages");
    fill(p, pages);
    const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return die("open /proc/self/pagemap");
    std::vector<uint64_t> entries(pages);
    const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPage * sizeof(uint64_t));
    if (pread(fd, entries.data(), entries.size() * sizeof(uint64_t), at) !=
        static_cast<ssize_t>(entries.size() * sizeof(uint64_t)))
        return die("read /proc/self/pagemap");
    close(fd);
    std::vector<uint64_t> pfns;
    for (uint64_t e : entries) {
        if (!(e & kPresent) || (e & kPfnMask) == 0) {
            std::fprintf(stderr, "xen-guest-pages: a pinned page has no frame number (pagemap %#llx)\n",
                         static_cast<unsigned long long>(e));
            return 1;
        }
        pfns.push_back(e & kPfnMask);
    }
    std::printf("GUEST-PAGES pin pfns %s\n", ranges(pfns).c_str());
    std::fflush(stdout);
    return 0;
}

int grant(uint32_t pages, uint16_t domid) {
    const int fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
    if (fd < 0) return die("open /dev/xen/gntalloc");
    // The ioctl's argument ends in one ref per page.
    std::vector<uint8_t> buf(sizeof(ioctl_gntalloc_alloc_gref) + pages * sizeof(uint32_t));
    auto* req = reinterpret_cast<ioctl_gntalloc_alloc_gref*>(buf.data());
    req->domid = domid;
    req->flags = GNTALLOC_FLAG_WRITABLE;
    req->count = pages;
    if (ioctl(fd, IOCTL_GNTALLOC_ALLOC_GREF, req) < 0) return die("IOCTL_GNTALLOC_ALLOC_GREF");
    auto* p = static_cast<uint8_t*>(
        mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(req->index)));
    if (p == MAP_FAILED) return die("mmap of the granted pages");
    fill(p, pages);
    std::vector<uint64_t> refs(req->gref_ids, req->gref_ids + pages);
    std::printf("GUEST-PAGES grant refs %s\n", ranges(refs).c_str());
    std::fflush(stdout);
    return 0;  // fd and mapping stay: the grants live as long as this process
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    const long n = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 0;
    int rc;
    if (mode == "pin" && argc == 3 && n > 0 && n <= 65536)
        rc = pin(static_cast<size_t>(n));
    else if (mode == "grant" && argc == 4 && n > 0 && n <= 4096)
        rc = grant(static_cast<uint32_t>(n), static_cast<uint16_t>(std::strtoul(argv[3], nullptr, 10)));
    else {
        std::fprintf(stderr, "usage: xen-guest-pages pin N | grant N DOMID\n");
        return 2;
    }
    if (rc != 0) return rc;
    for (;;) pause();
}
