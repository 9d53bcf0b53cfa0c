// Facts about the node's own network, as the kernel tells them in the daemon's network
// namespace (rtnetlink): its interfaces, the ways out, the pods behind its veths.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/ip_address.h"

namespace skouter::daemon {

struct Link {
  int ifindex = 0;
  std::string name;
  // IFLA_INFO_KIND: "veth", "bridge", "vxlan", "wireguard", ...; empty for a physical
  // interface and for lo.
  std::string kind;
  int master = 0;  // the bridge (or bond) it is a port of; 0 for none
  bool loopback = false;
  // A veth whose peer lives in another network namespace: that namespace as this one
  // numbers it (`ip link` shows it as link-netnsid), and the peer's index there.
  std::optional<std::uint32_t> peer_netns_id;
  int peer_ifindex = 0;

  bool operator==(const Link&) const = default;
};

// The interface the host's held first data is redirected to (skouter_config's
// held_sink_ifindex, bpf/lib/server_name.h): one end of a veth pair kept down, which
// discards what it is given, made when missing. Its index; throws std::system_error.
inline constexpr const char* kHeldSinkName = "skouter-held";
int ensureHeldSink(const std::string& name = kHeldSinkName);
// Removes it, and so its peer (`skouterd --detach`); one that is not there is not an
// error.
void removeHeldSink(const std::string& name = kHeldSinkName);

// Every interface of the daemon's network namespace. Throws std::system_error when
// netlink fails.
std::vector<Link> listLinks();

struct InterfaceAddress {
  int ifindex = 0;
  IpAddress address;
  int prefix_length = 0;
  bool operator==(const InterfaceAddress&) const = default;
};

// Every address of the daemon's network namespace, with the interface it is on and
// its prefix length. Throws std::system_error when netlink fails.
std::vector<InterfaceAddress> listAddresses();

// Where a pod's packets enter the node.
struct PodInterface {
  int ifindex = 0;
  std::string name;
  // The pod's network namespace as the node's numbers it; nullopt when unknown (found
  // by route only), and then no socket lookup can tell which of its ports are open.
  std::optional<std::uint32_t> netns_id;
  std::vector<IpAddress> addresses;  // of the pod behind it

  bool operator==(const PodInterface&) const = default;
};

// `link`, a veth whose peer is in another network namespace, with the addresses of
// the pod there.
PodInterface podInterfaceOf(const Link& link);

struct InterfaceRoles;
// The pods' veths among `links` (not an uplink's, nor a transit interface's), with
// the addresses of the pod behind each.
std::vector<PodInterface> podInterfacesOf(const std::vector<Link>& links,
                                          const InterfaceRoles& roles);

// The addresses of the interface `ifindex` of the network namespace this one numbers
// `netns_id` (IPv6 link-local ones left out: every pod has the same few). Empty when
// that namespace is gone. Throws std::system_error when netlink fails otherwise.
std::vector<IpAddress> addressesInNamespace(std::uint32_t netns_id, int ifindex);

// The interfaces the default routes of the main routing table leave by, IPv4 and IPv6,
// every next hop of a multipath route included, each once.
std::vector<std::string> defaultRouteInterfaces();

// Whether `address` (text) is configured on one of this host's interfaces.
bool isLocalAddress(const std::string& address);

}  // namespace skouter::daemon
