// The interfaces map: what forwarded traffic from each interface of the node is (the
// daemon decides it: daemon/interface_kind.h); and the link_prefixes map: the subnets
// of each uplink, whose addresses are neighbours there (for DHCP and neighbour
// discovery). Sole writer of both.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "common/ip_address.h"

namespace skouter::maps {

class InterfaceTable {
 public:
  // Reads the pinned maps once: what a previous daemon left in them is known from then
  // on.
  InterfaceTable(InterfaceMap kinds, LinkPrefixMap prefixes);

  // Makes the maps hold exactly `kinds` (by ifindex) and `uplink_prefixes` (each
  // uplink's ifindex with one of its subnets), forgetting what is gone.
  void write(const std::map<std::uint32_t, skouter_interface_kind>& kinds,
             const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes);

  // Entries in the interfaces and link_prefixes maps.
  std::size_t interfaceCount() const { return kinds_.size(); }
  std::size_t prefixCount() const { return prefixes_.size(); }

 private:
  // Orders keys by their bytes (prefixKey() zeroes the padding).
  struct KeyBytesLess {
    bool operator()(const skouter_link_prefix_key& a, const skouter_link_prefix_key& b) const {
      return std::memcmp(&a, &b, sizeof(a)) < 0;
    }
  };

  void writePrefixes(const std::vector<std::pair<std::uint32_t, IpPrefix>>& uplink_prefixes);

  CountedMap<std::uint32_t, skouter_interface_value> kinds_;
  CountedMap<skouter_link_prefix_key, std::uint32_t> prefixes_;
  // What the maps hold, as this table last wrote or read them back (the BPF programs
  // only read them): write() comes with every pod change, and an interface or subnet
  // that is already there then costs no syscall, nor does finding the ones gone.
  std::map<std::uint32_t, std::uint32_t> installed_kinds_;
  std::set<skouter_link_prefix_key, KeyBytesLess> installed_prefixes_;
};

}  // namespace skouter::maps
