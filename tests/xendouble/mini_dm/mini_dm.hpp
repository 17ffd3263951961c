#pragma once
// The minimal device model that tests the ioreq double (xendouble-mini-dm,
// tests/component/xendouble_ioreq_test.cpp): one MMIO page and one PCI
// function, the registers below. Shared so the test and the program agree.
//
//   xendouble-mini-dm <domid> <vcpus>
//
// It checks on the way up that the double refuses what Xen refuses (a line
// "check <name> ok|FAILED ..." each, then "checks passed" or "checks
// FAILED"), prints "ready" once enabled, serves until SIGTERM, then releases
// everything (unmap, destroy, unmap the page, close) and prints "stopped".

#include <cstdint>

namespace xenvhost::xendouble::mini_dm {

inline constexpr uint64_t kMmioBase = 0xfe000000;
inline constexpr uint64_t kMmioSize = 0x1000;
inline constexpr uint8_t kPciDevice = 3;  // 0000:00:03.0

inline constexpr uint64_t kRegId = 0x00;          // read: kIdValue
inline constexpr uint64_t kRegScratch = 0x08;     // read: the last value written
inline constexpr uint64_t kRegIrq = 0x10;         // write v: INTA of 00:03 and ISA IRQ kIsaIrq to v & 1
inline constexpr uint64_t kRegInvalidates = 0x18;  // read: invalidate ioreqs answered
inline constexpr uint64_t kRegVcpu = 0x20;        // read: the vCPU whose slot carried the read
inline constexpr uint64_t kRegWrites = 0x28;      // read: MMIO writes seen

inline constexpr uint64_t kIdValue = 0x786e7668'12345678;
inline constexpr unsigned kIsaIrq = 5;
// Config space: vendor 0x1af4, device 0x1041 at 0, the rest writable bytes.
inline constexpr uint32_t kPciId = 0x10411af4;

}  // namespace xenvhost::xendouble::mini_dm
