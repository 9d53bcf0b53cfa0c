// The interfaces map: what forwarded traffic from each interface of the node is (see
// interface_kind.h). Sole writer of that map.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "bpf/datapath.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"

namespace skouter::daemon {

class InterfaceTable {
 public:
  InterfaceTable(InterfaceMap map, InterfaceRoles roles);

  // Writes the kind of every interface in `links` and forgets the interfaces gone. A
  // pod interface in `unguarded` (pod programs wanted but not attached yet) is left
  // out: with SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES its forwarded traffic is dropped.
  void write(const std::vector<Link>& links, const std::set<int>& unguarded);

  // The pods' veths among `links` (not an uplink's, nor a transit interface's), with
  // the addresses of the pod behind each.
  std::vector<PodInterface> podInterfaces(const std::vector<Link>& links) const;

  const InterfaceRoles& roles() const { return roles_; }

 private:
  InterfaceMap map_;
  InterfaceRoles roles_;
};

}  // namespace skouter::daemon
