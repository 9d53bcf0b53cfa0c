// The interfaces map: what forwarded traffic from each interface of the node is (the
// daemon decides it: daemon/interface_kind.h); and the link_prefixes map: the subnets
// of each uplink, whose addresses are neighbours there (for DHCP and neighbour
// discovery). Sole writer of both.
#pragma once

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "common/ip_address.h"

namespace skouter::maps {

class InterfaceTable {
 public:
  InterfaceTable(InterfaceMap kinds, LinkPrefixMap prefixes);

  // Makes the maps hold exactly `kinds` (by ifindex) and `uplink_prefixes` (each
  // uplink's ifindex with one of its subnets), forgetting what is gone.
  void write(const std::map<std::uint32_t, skouter_interface_kind>& kinds,
             const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes);

  // Entries in the interfaces and link_prefixes maps.
  std::size_t interfaceCount() const { return kinds_.size(); }
  std::size_t prefixCount() const { return prefixes_.size(); }

 private:
  void writePrefixes(const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes);

  CountedMap<std::uint32_t, skouter_interface_value> kinds_;
  CountedMap<skouter_link_prefix_key, std::uint32_t> prefixes_;
};

}  // namespace skouter::maps
