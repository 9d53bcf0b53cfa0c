#include "daemon/interface_kind.h"

#include <algorithm>
#include <iterator>

namespace skouter::daemon {

bool isPodInterface(const Link& link) { return link.kind == "veth" && link.peer_netns_id; }

bool isTunnel(const Link& link) {
  static constexpr const char* kTunnelKinds[] = {
      "vxlan",     "geneve", "ipip",      "sit", "gre",  "gretap",    "ip6tnl", "ip6gre",
      "ip6gretap", "erspan", "ip6erspan", "vti", "vti6", "wireguard", "bareudp"};
  return std::any_of(std::begin(kTunnelKinds), std::end(kTunnelKinds),
                     [&](const char* kind) { return link.kind == kind; });
}

skouter_interface_kind interfaceKindOf(const Link& link, const std::vector<Link>& links,
                                       const InterfaceRoles& roles) {
  if (roles.uplinks.count(link.name) || roles.transit.count(link.name) || isTunnel(link)) {
    return SKOUTER_INTERFACE_TRANSIT;
  }
  if (roles.kubernetes) {
    if (isPodInterface(link)) return SKOUTER_INTERFACE_POD;
    // A bridge of pods (cni0): what it forwards comes from its ports, the pods' veths.
    if (link.kind == "bridge" && std::any_of(links.begin(), links.end(), [&](const Link& port) {
          return port.master == link.ifindex && isPodInterface(port);
        })) {
      return SKOUTER_INTERFACE_POD;
    }
  }
  return SKOUTER_INTERFACE_GUEST;
}

std::map<std::uint32_t, skouter_interface_kind> interfaceKinds(const std::vector<Link>& links,
                                                               const std::set<int>& unguarded,
                                                               const InterfaceRoles& roles) {
  std::map<std::uint32_t, skouter_interface_kind> kinds;
  for (const Link& link : links) {
    if (unguarded.count(link.ifindex)) continue;
    kinds[static_cast<std::uint32_t>(link.ifindex)] = interfaceKindOf(link, links, roles);
  }
  return kinds;
}

std::vector<std::pair<std::uint32_t, IpPrefix>> uplinkPrefixes(
    const std::vector<Link>& links, const std::vector<InterfaceAddress>& addresses,
    const InterfaceRoles& roles) {
  std::vector<std::pair<std::uint32_t, IpPrefix>> prefixes;
  for (const InterfaceAddress& address : addresses) {
    const bool on_uplink = std::any_of(links.begin(), links.end(), [&](const Link& link) {
      return link.ifindex == address.ifindex && roles.uplinks.count(link.name);
    });
    if (!on_uplink) continue;
    prefixes.emplace_back(
        static_cast<std::uint32_t>(address.ifindex),
        IpPrefix::of(address.address, static_cast<unsigned>(address.prefix_length)));
  }
  return prefixes;
}

}  // namespace skouter::daemon
