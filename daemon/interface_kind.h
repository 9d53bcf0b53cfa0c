// What each interface of the node is to the uplink programs, which see forwarded
// traffic leave by the interface it came in on: a pod's (judged where it entered),
// transit (someone else's traffic passing through), or a local guest's (a container,
// a VM, anything injected on lo: judged as the host's own). Pure: a function of the
// links the kernel lists and of what the daemon was told.
#pragma once

#include <set>
#include <string>
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

}  // namespace skouter::daemon
