// What traffic the node forwards from each of its interfaces is to the uplink programs:
// judged at a pod's interface, someone else's in transit, or the host's own by another
// way out (interface_kind.h).
#include "daemon/interface_kind.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skouter::daemon {
namespace {

Link link(int ifindex, std::string name, std::string kind = "", int master = 0) {
  Link link;
  link.ifindex = ifindex;
  link.name = std::move(name);
  link.kind = std::move(kind);
  link.master = master;
  return link;
}

Link peerIn(Link link, std::uint32_t netns_id) {
  link.peer_netns_id = netns_id;
  link.peer_ifindex = 2;
  return link;
}

// A Kubernetes node: an uplink veth (as in a VM's lab), flannel's bridge of pod veths
// and its vxlan, a routed pod veth, Docker's bridge with a container, lo.
const std::vector<Link> kNode = {
    link(1, "lo"),
    peerIn(link(2, "eth0", "veth"), 0),
    link(3, "cni0", "bridge"),
    peerIn(link(4, "veth1a2b", "veth", 3), 1),
    link(5, "flannel.1", "vxlan"),
    peerIn(link(6, "cali77", "veth"), 2),
    link(7, "docker0", "bridge"),
    peerIn(link(8, "vethd0c", "veth", 7), 3),
    link(9, "wg0", "wireguard"),
    link(10, "eth1"),
};

skouter_interface_kind kindOf(const std::string& name, const InterfaceRoles& roles) {
  for (const Link& candidate : kNode) {
    if (candidate.name == name) return interfaceKindOf(candidate, kNode, roles);
  }
  ADD_FAILURE() << "no interface " << name;
  return SKOUTER_INTERFACE_GUEST;
}

TEST(InterfaceKindTest, OnAKubernetesNodePodVethsAndTheirBridgesArePods) {
  const InterfaceRoles roles{.kubernetes = true, .uplinks = {"eth0"}, .transit = {}};
  EXPECT_EQ(kindOf("veth1a2b", roles), SKOUTER_INTERFACE_POD);
  EXPECT_EQ(kindOf("cali77", roles), SKOUTER_INTERFACE_POD);
  EXPECT_EQ(kindOf("cni0", roles), SKOUTER_INTERFACE_POD);
  // A container's veth is a pod's to skouter too: it cannot tell a pod from it.
  EXPECT_EQ(kindOf("docker0", roles), SKOUTER_INTERFACE_POD);
}

TEST(InterfaceKindTest, UplinksTunnelsAndNamedInterfacesAreTransit) {
  const InterfaceRoles roles{.kubernetes = true, .uplinks = {"eth0"}, .transit = {"eth1"}};
  // The uplink is a veth with its peer elsewhere, and still no pod's.
  EXPECT_EQ(kindOf("eth0", roles), SKOUTER_INTERFACE_TRANSIT);
  EXPECT_EQ(kindOf("flannel.1", roles), SKOUTER_INTERFACE_TRANSIT);
  EXPECT_EQ(kindOf("wg0", roles), SKOUTER_INTERFACE_TRANSIT);
  EXPECT_EQ(kindOf("eth1", roles), SKOUTER_INTERFACE_TRANSIT);
}

TEST(InterfaceKindTest, OnAPlainHostContainersAndVmsAreTheHosts) {
  const InterfaceRoles roles{.kubernetes = false, .uplinks = {"eth0"}, .transit = {}};
  EXPECT_EQ(kindOf("docker0", roles), SKOUTER_INTERFACE_GUEST);
  EXPECT_EQ(kindOf("vethd0c", roles), SKOUTER_INTERFACE_GUEST);
  EXPECT_EQ(kindOf("cni0", roles), SKOUTER_INTERFACE_GUEST);
  EXPECT_EQ(kindOf("eth1", roles), SKOUTER_INTERFACE_GUEST);
  // A packet injected on lo and forwarded is the host's by another way out.
  EXPECT_EQ(kindOf("lo", roles), SKOUTER_INTERFACE_GUEST);
  EXPECT_EQ(kindOf("flannel.1", roles), SKOUTER_INTERFACE_TRANSIT);
}

TEST(InterfaceKindTest, OnlyAVethWithItsPeerElsewhereIsAPodInterface) {
  EXPECT_TRUE(isPodInterface(peerIn(link(4, "veth1a2b", "veth"), 1)));
  EXPECT_FALSE(isPodInterface(link(4, "veth1a2b", "veth")));  // both ends here
  EXPECT_FALSE(isPodInterface(peerIn(link(4, "macvlan0", "macvlan"), 1)));
}

}  // namespace
}  // namespace skouter::daemon
