// What each interface of the node is to the uplink programs, which see forwarded
// traffic leave by the interface it came in on: a pod's (judged where it entered),
// transit (someone else's traffic passing through), or a local guest's (a container,
// a VM, anything injected on lo: judged as the host's own). Pure: a function of the
// links the kernel lists and of what the daemon was told.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bpf/skouter_abi.h"
#include "daemon/host_network.h"

namespace skouter::daemon {

struct InterfaceRoles {
  bool kubernetes = false;        // pods live behind veths here
  std::set<std::string> uplinks;  // carry the uplink programs
  std::set<std::string> transit;  // --transit-interface
};

// A veth whose peer lives in another network namespace: a pod's (or a container's)
// way in and out of the node.
bool isPodInterface(const Link& link);

// Tunnels carry other nodes' traffic (their pods were judged there).
bool isTunnel(const Link& link);

// What forwarded traffic from `link` is, among the node's `links`.
skouter_interface_kind interfaceKindOf(const Link& link, const std::vector<Link>& links,
                                       const InterfaceRoles& roles);

// What the interfaces map holds: the kind of every interface in `links`, by ifindex.
// A pod interface in `unguarded` (pod programs wanted but not attached yet) is left
// out: with SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES its forwarded traffic is dropped.
std::map<std::uint32_t, skouter_interface_kind> interfaceKinds(const std::vector<Link>& links,
                                                               const std::set<int>& unguarded,
                                                               const InterfaceRoles& roles);

// What the link_prefixes map holds: the subnets of the uplinks among `links`, from
// `addresses`, each with its uplink's ifindex.
std::vector<std::pair<std::uint32_t, IpPrefix>> uplinkPrefixes(
    const std::vector<Link>& links, const std::vector<InterfaceAddress>& addresses,
    const InterfaceRoles& roles);

}  // namespace skouter::daemon
