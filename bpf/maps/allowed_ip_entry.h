// One learned address as the daemon reads it back from allowed_ips and learned_names.
// Pure: the daemon's pure parts (explain) take it without linking the map writers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ip_address.h"
#include "policy/compiled_policy.h"

namespace skouter::maps {

struct AllowedIpEntry {
  std::uint32_t identity = 0;
  IpAddress ip;
  std::uint64_t expiry_ns = 0;  // 0: never
  policy::RuleId rule = 0;
  policy::PortSet ports;  // empty: every port
  std::vector<std::string> names;
};

}  // namespace skouter::maps
