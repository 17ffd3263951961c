#pragma once
// What xenvhost-status prints: an aligned table for people, JSON for
// scripts (numbers as numbers, booleans as booleans, an absent key null).

#include "status/device_row.hpp"

#include <span>
#include <string>

namespace xenvhost::status {

// "2 InitWait"; the number alone when it is not a xenbus state.
std::string state_text(const std::string& state);

// The table with its header; "no virtio devices[ for G...]" when empty.
std::string format_table(std::span<const DeviceRow> rows, std::string_view no_rows);
// A JSON array of one object per device; `compact` puts it on one line
// (one snapshot per line under --watch).
std::string format_json(std::span<const DeviceRow> rows, bool compact);

}  // namespace xenvhost::status
