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
  // Seconds the answer that set expiry_ns kept it open (resolver::LearnedAddress); 0
  // when not known (learned by the datapath, or read back from the pins).
  std::uint32_t open_for_s = 0;
};

}  // namespace skouter::maps
