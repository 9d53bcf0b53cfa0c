// The interfaces map: what forwarded traffic from each interface of the node is (see
// interface_kind.h); and the link_prefixes map: the subnets of each uplink, whose
// addresses are neighbours there (for DHCP and neighbour discovery). Sole writer of
// both.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "bpf/counted_map.h"
#include "bpf/datapath.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"

namespace skouter::daemon {

class InterfaceTable {
 public:
  InterfaceTable(InterfaceMap kinds, LinkPrefixMap prefixes, InterfaceRoles roles);

  // Writes the kind of every interface in `links` and the subnets of the uplinks among
  // them (from `addresses`), and forgets what is gone. A pod interface in `unguarded`
  // (pod programs wanted but not attached yet) is left out: with
  // SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES its forwarded traffic is dropped.
  void write(const std::vector<Link>& links, const std::vector<InterfaceAddress>& addresses,
             const std::set<int>& unguarded);

  // The pods' veths among `links` (not an uplink's, nor a transit interface's), with
  // the addresses of the pod behind each.
  std::vector<PodInterface> podInterfaces(const std::vector<Link>& links) const;

  const InterfaceRoles& roles() const { return roles_; }
  // Entries in the interfaces and link_prefixes maps.
  std::size_t interfaceCount() const { return kinds_.size(); }
  std::size_t prefixCount() const { return prefixes_.size(); }

 private:
  void writePrefixes(const std::vector<Link>& links,
                     const std::vector<InterfaceAddress>& addresses);

  CountedMap<std::uint32_t, skouter_interface_value> kinds_;
  CountedMap<skouter_link_prefix_key, std::uint32_t> prefixes_;
  InterfaceRoles roles_;
};

}  // namespace skouter::daemon
