// Attacks on the datapath (issue 12, "close every way around the datapath"), each next
// to its legitimate twin: the packet a hostile workload or its accomplice would send,
// and the one a well-behaved host sends that looks like it, run through the programs
// with BPF_PROG_TEST_RUN. The tables are grouped by the row of the threat model
// (THREATS.md, shared with the end-to-end attack tests) they cover, quoted above each.
//
// What depends on the kernel's routing or sockets (is a destination on the link, does
// a local socket receive a datagram) runs in a network namespace of the test's own,
// the lab (LabTest):
//
//   up0 (index 10)    198.51.100.2/24, 2001:db8:1::2/64: the node's uplink; the gateway
//                     .1 / ::1 and a neighbour .77 / ::77 are on its link; default
//                     routes via the gateway
//   pod-a (index 20)  the node's side of pod A's veth: routes to 198.18.0.10 and
//                     2001:db8:18::10; pod A's sockets are in a namespace of their own,
//                     which the node's knows as netns id 42
//   pod-b (index 30)  pod B's: 198.18.0.11, 2001:db8:18::11, and .50 / ::50, which are
//                     routed there but are no pod's
//   pod-c (index 40)  pod C's, which no Egress selects: 198.18.0.12, 2001:db8:18::12
//   lo                203.0.113.7, 2001:db8:7::7: a peer for real TCP connections
//
// IP forwarding is on, as on any node that hosts pods. The uplink's subnets and the
// node's addresses are in the maps as the daemon puts them there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "bpf/maps/answer_ring_quota.h"
#include "bpf/maps/interface_table.h"
#include "daemon/host_network.h"
#include "daemon/interface_kind.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPodA = 100;
constexpr std::uint32_t kPodB = 200;
constexpr std::uint32_t kPodUnbound = 400;
constexpr std::uint32_t kPodNetnsId = 42;
constexpr std::uint32_t kUplinkIfindex = 10;
constexpr std::uint32_t kPodAIfindex = 20;
constexpr std::uint32_t kPodBIfindex = 30;
constexpr std::uint32_t kPodCIfindex = 40;

constexpr std::uint16_t kLocalPort = 40000;
constexpr std::uint16_t kPeerPort = 50000;
constexpr std::uint16_t kSshPort = 22;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kServicePort = 8080;
constexpr std::uint16_t kDiameterPort = 3868;
constexpr std::uint16_t kEchoId = 0x4242;
constexpr std::uint16_t kDnsId = 0x5151;

constexpr std::uint32_t kPolicedAndAudited = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT;
constexpr std::uint32_t kGuarded = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES;

constexpr SkbContext kOnUplink{.ifindex = kUplinkIfindex};
constexpr SkbContext kFromPodA{.ifindex = kPodAIfindex};

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

// The lab's addresses in one family (see the top of this file), beside the policy every
// case starts from (`network`: installPolicy()).
struct Lab {
  const TestNetwork* network;
  IpAddress node;       // the node's address on its uplink
  IpAddress gateway;    // next hop of the default route, on the uplink's link
  IpAddress neighbour;  // another host on the uplink's link
  IpAddress off_link;   // behind the gateway, in no rule
  IpAddress pod_a;
  IpAddress pod_b;
  IpAddress pod_c;      // a pod no Egress selects
  IpAddress unbound;    // a pod's address bound to no interface yet (migrated)
  IpAddress not_a_pod;  // routed to pod B's interface, but no pod's address
  IpAddress stranger;   // routed nowhere special, and no pod's address
  IpAddress peer;       // on lo: the far end of real TCP connections to the node
  IpAddress link_local;
  IpAddress unspecified;
  IpAddress link_multicast;    // a group whose reports stay on the link
  IpAddress global_multicast;  // a group routers may forward
  IpAddress solicited_node;    // where neighbour solicitations for pod B go
  IpAddress all_nodes;
  IpAddress all_routers;
  IpAddress dhcp_servers;  // 255.255.255.255, ff02::1:2
};

const Lab& ipv4Lab() {
  static const Lab lab{.network = &ipv4Network(),
                       .node = ip("198.51.100.2"),
                       .gateway = ip("198.51.100.1"),
                       .neighbour = ip("198.51.100.77"),
                       .off_link = ip("203.0.113.99"),
                       .pod_a = ip("198.18.0.10"),
                       .pod_b = ip("198.18.0.11"),
                       .pod_c = ip("198.18.0.12"),
                       .unbound = ip("198.18.0.13"),
                       .not_a_pod = ip("198.18.0.50"),
                       .stranger = ip("198.18.0.99"),
                       .peer = ip("203.0.113.7"),
                       .link_local = ip("169.254.0.10"),
                       .unspecified = ip("0.0.0.0"),
                       .link_multicast = ip("224.0.0.22"),
                       .global_multicast = ip("239.1.2.3"),
                       .solicited_node = ip("224.0.0.1"),
                       .all_nodes = ip("224.0.0.1"),
                       .all_routers = ip("224.0.0.2"),
                       .dhcp_servers = ip("255.255.255.255")};
  return lab;
}

const Lab& ipv6Lab() {
  static const Lab lab{.network = &ipv6Network(),
                       .node = ip("2001:db8:1::2"),
                       .gateway = ip("2001:db8:1::1"),
                       .neighbour = ip("2001:db8:1::77"),
                       .off_link = ip("2001:db8:ffff::99"),
                       .pod_a = ip("2001:db8:18::10"),
                       .pod_b = ip("2001:db8:18::11"),
                       .pod_c = ip("2001:db8:18::12"),
                       .unbound = ip("2001:db8:18::13"),
                       .not_a_pod = ip("2001:db8:18::50"),
                       .stranger = ip("2001:db8:18::99"),
                       .peer = ip("2001:db8:7::7"),
                       .link_local = ip("fe80::10"),
                       .unspecified = ip("::"),
                       .link_multicast = ip("ff02::16"),
                       .global_multicast = ip("ff0e::1:3"),
                       .solicited_node = ip("ff02::1:ff00:11"),
                       .all_nodes = ip("ff02::1"),
                       .all_routers = ip("ff02::2"),
                       .dhcp_servers = ip("ff02::1:2")};
  return lab;
}

const Lab& labOf(const TestNetwork& network) {
  return network.host.family == IpFamily::kV4 ? ipv4Lab() : ipv6Lab();
}

bool isV4(const Lab& l) { return l.node.family == IpFamily::kV4; }

// Runs a shell command in the test thread's network namespace; throws naming it when
// it fails.
void shell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status != 0) {
    throw std::runtime_error("'" + command + "' failed (wait status " + std::to_string(status) +
                             ")");
  }
}

// ---------------------------------------------------------------------------------
// Packets.

// A DHCP (IPv4) or DHCPv6 client's message to a server.
Packet dhcp(const IpAddress& source, const IpAddress& destination) {
  const bool v4 = source.family == IpFamily::kV4;
  return PacketBuilder(source, destination)
      .udp(v4 ? 68 : 546, v4 ? 67 : 547, Bytes(v4 ? 240 : 32, 0))
      .build();
}

// An IGMP report for `group`, sent to `destination` with `ttl`, and 32 bytes of data
// after it (what a tunnel would carry).
Packet igmp(const IpAddress& source, const IpAddress& destination, const IpAddress& group,
            std::uint8_t ttl) {
  return PacketBuilder(source, destination)
      .hopLimit(ttl)
      .igmpReport(group, Bytes(32, 0x5a))
      .build();
}

constexpr std::uint8_t kMld2Report = 143;
constexpr std::uint8_t kRouterSolicitation = 133;
constexpr std::uint8_t kNeighbourAdvertisement = 136;
constexpr std::uint8_t kRedirect = 137;

// An MLDv2 report (with no records) behind the Router Alert hop-by-hop option.
Packet mldReport(const IpAddress& source, const IpAddress& destination, std::uint8_t hops) {
  return PacketBuilder(source, destination)
      .hopLimit(hops)
      .hopByHop()
      .icmp(kMld2Report, 0, {0, 0, 0, 0})
      .build();
}

Packet neighbourSolicitation(const IpAddress& source, const IpAddress& destination,
                             const IpAddress& target, std::uint8_t hops = 255) {
  return PacketBuilder(source, destination).hopLimit(hops).neighbourSolicitation(target).build();
}

Packet neighbourMessage(std::uint8_t type, const IpAddress& source, const IpAddress& destination,
                        const IpAddress& target, std::uint8_t hops = 255) {
  Bytes body(4, 0);  // flags, reserved
  body.insert(body.end(), target.bytes.begin(), target.bytes.begin() + target.size());
  if (type == kRedirect) body.insert(body.end(), target.bytes.begin(), target.bytes.end());
  return PacketBuilder(source, destination).hopLimit(hops).icmp(type, 0, body).build();
}

// Time exceeded (ICMP 11, ICMPv6 3), quoting `quoted`.
Packet timeExceeded(const IpAddress& source, const IpAddress& destination, const Packet& quoted) {
  Bytes body(4, 0);
  const Bytes quote = quoteOf(quoted);
  body.insert(body.end(), quote.begin(), quote.end());
  return PacketBuilder(source, destination)
      .icmp(source.family == IpFamily::kV4 ? 11 : 3, 0, body)
      .build();
}

Packet portUnreachable(const IpAddress& source, const IpAddress& destination,
                       const Packet& quoted) {
  return PacketBuilder(source, destination).destinationUnreachable(quoteOf(quoted)).build();
}

Packet syn(const IpAddress& source, std::uint16_t source_port, const IpAddress& destination,
           std::uint16_t destination_port, std::uint8_t flags = kTcpSyn) {
  return PacketBuilder(source, destination).tcp(source_port, destination_port, flags).build();
}

Packet datagram(const IpAddress& source, std::uint16_t source_port, const IpAddress& destination,
                std::uint16_t destination_port) {
  return PacketBuilder(source, destination)
      .udp(source_port, destination_port, Bytes(16, 0x42))
      .build();
}

Packet dnsQueryPacket(const IpAddress& client, const IpAddress& resolver) {
  return PacketBuilder(client, resolver)
      .udp(kLocalPort, kDnsPort, dnsQuery(kDnsId, "example.com", client.family))
      .build();
}

// ---------------------------------------------------------------------------------
// Checks.

Descriptions describe(const FlowMap& table) {
  Descriptions result;
  table.forEach([&](const skouter_flow_key& key, const skouter_flow_value& value) {
    result.push_back(flowDescription(key, value));
  });
  std::sort(result.begin(), result.end());
  return result;
}

// The flows of each table: those the workloads opened, and those opened from outside.
std::function<void(DatapathFixture&)> expectTables(Descriptions outbound, Descriptions inbound) {
  std::sort(outbound.begin(), outbound.end());
  std::sort(inbound.begin(), inbound.end());
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(describe(datapath.datapath().flows()), outbound) << "flows";
    EXPECT_EQ(describe(datapath.datapath().inboundFlows()), inbound) << "inbound_flows";
  };
}

std::function<void(DatapathFixture&)> expectNoFlows() { return expectTables({}, {}); }

// What `hook` counted over the whole case, its setup included.
std::function<void(DatapathFixture&)> expectCounted(skouter_hook hook, Counters counted) {
  return [=](DatapathFixture& datapath) { EXPECT_EQ(datapath.counters(hook), counted); };
}

std::function<void(DatapathFixture&)> expectQueries(Descriptions expected) {
  std::sort(expected.begin(), expected.end());
  return [=](DatapathFixture& datapath) { EXPECT_EQ(datapath.queryDescriptions(), expected); };
}

std::function<void(DatapathFixture&)> setFlags(std::uint32_t flags) {
  return [=](DatapathFixture& datapath) { datapath.setFlags(flags); };
}

// A packet run through another program first, as it meets the datapath before the
// case's packet does.
std::function<void(DatapathFixture&)> before(Program program, Packet packet,
                                             SkbContext context = {}) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(runProgram(datapath, program, packet, context), Verdict::kPass)
        << "the packet before the case's";
  };
}

std::function<void(DatapathFixture&)> putFlow(skouter_flow_key key, skouter_flow_origin origin,
                                              std::int64_t seconds_from_now = 0) {
  return [=](DatapathFixture& datapath) {
    datapath.putFlow(key, origin,
                     datapathNowNs() + static_cast<std::uint64_t>(seconds_from_now *
                                                                  std::int64_t{kNanosPerSecond}));
  };
}

std::vector<PacketCase> forBothFamilies(std::vector<PacketCase> (*casesFor)(const Lab&)) {
  std::vector<PacketCase> cases = casesFor(ipv4Lab());
  for (PacketCase& packet_case : casesFor(ipv6Lab())) cases.push_back(std::move(packet_case));
  return cases;
}

// ---------------------------------------------------------------------------------
// The lab.

// A table case in the lab, with the pods of the top of this file policed (but pod C):
// pod A may reach the learned and the static address of its network, pod B only the
// learned one.
class LabTest : public PacketCaseTest {
 public:
  // A socket of `type` bound in pod A's network namespace, open until the test ends.
  int bindInPodA(int type, const IpAddress& address, std::uint16_t port) {
    enterPodA();
    int fd = -1;
    try {
      fd = bindSocket(type, address, port);
    } catch (...) {
      returnToNode();
      throw;
    }
    returnToNode();
    return fd;
  }

  // connectTcp() in pod A's namespace, with both addresses on its lo.
  void connectTcpInPodA(const IpAddress& client, std::uint16_t client_port, const IpAddress& server,
                        std::uint16_t server_port) {
    const std::string in_pod = "ip -n " + pod_namespace_ + " ";
    shell(in_pod + "link set lo up");
    for (const IpAddress* address : {&client, &server}) {
      shell(in_pod + "addr add " + address->toString() + " dev lo" +
            (address->family == IpFamily::kV6 ? " nodad" : ""));
    }
    enterPodA();
    try {
      connectTcp(client, client_port, server, server_port);
    } catch (...) {
      returnToNode();
      throw;
    }
    returnToNode();
  }

  // A real TCP connection from `client`:`client_port` to `server`:`server_port`, both
  // of the node (the client's address is on lo), established and open until the test
  // ends, and the server's listening socket beside it.
  void connectTcp(const IpAddress& client, std::uint16_t client_port, const IpAddress& server,
                  std::uint16_t server_port) {
    const int listener = bindSocket(SOCK_STREAM, server, server_port);
    if (listen(listener, 1) != 0) throw std::system_error(errno, std::generic_category(), "listen");
    const int fd = bindSocket(SOCK_STREAM, client, client_port);
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (server.family == IpFamily::kV4) {
      auto* address = reinterpret_cast<sockaddr_in*>(&storage);
      address->sin_family = AF_INET;
      address->sin_port = htons(server_port);
      std::memcpy(&address->sin_addr, server.bytes.data(), 4);
      length = sizeof(sockaddr_in);
    } else {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_port = htons(server_port);
      std::memcpy(&address->sin6_addr, server.bytes.data(), 16);
      length = sizeof(sockaddr_in6);
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
      throw std::system_error(errno, std::generic_category(), "connect to " + server.toString());
    }
    const int accepted = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (accepted < 0) throw std::system_error(errno, std::generic_category(), "accept");
    keepOpen(accepted);
  }

 protected:
  void SetUp() override {
    PacketCaseTest::SetUp();
    if (HasFatalFailure()) return;
    usePrivateNetworkNamespace();
    node_namespace_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(node_namespace_, 0);
    buildLab();

    const Lab& l = labOf(*GetParam().network);
    const TestNetwork& n = *l.network;
    addIdentity(l.pod_a, kPodA, SKOUTER_IDENTITY_NETNS_KNOWN, kPodAIfindex, kPodNetnsId);
    addIdentity(l.pod_b, kPodB, 0, kPodBIfindex);
    addIdentity(l.pod_c, SKOUTER_UNPOLICED_IDENTITY, 0, kPodCIfindex);
    addIdentity(l.unbound, kPodUnbound, 0, 0);
    // What the daemon writes for the node: the subnets of its uplink, read from the
    // kernel as the daemon reads them, and its own addresses, which its pods reach as
    // their gateway and may not send as.
    const daemon::InterfaceRoles roles{.kubernetes = true, .uplinks = {"up0"}, .transit = {}};
    const auto links = daemon::listLinks();
    maps::InterfaceTable(datapath().interfaces(), datapath().linkPrefixes())
        .write(daemon::interfaceKinds(links, {}, roles),
               daemon::uplinkPrefixes(links, daemon::listAddresses(), roles));
    for (const auto& address : daemon::listAddresses()) {
      addIdentity(address.address, SKOUTER_HOST_IDENTITY, 0, 0);
    }
    const std::uint64_t in_an_hour = datapathNowNs() + 3600 * kNanosPerSecond;
    allowIpFor(kPodA, n.learned, in_an_hour);
    allowIpFor(kPodA, n.static_ip, in_an_hour);
    allowIpFor(kPodB, n.learned, in_an_hour);
  }

  void TearDown() override {
    if (!pod_namespace_.empty()) {
      EXPECT_EQ(std::system(("ip netns del " + pod_namespace_).c_str()), 0);
    }
    if (node_namespace_ >= 0) close(node_namespace_);
    PacketCaseTest::TearDown();
  }

 private:
  void buildLab() {
    shell("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
    FILE* ip = popen("ip -batch -", "w");
    ASSERT_NE(ip, nullptr);
    for (const char* command : {
             "link set lo up",
             "addr add 203.0.113.7/32 dev lo",
             "addr add 2001:db8:7::7/128 dev lo nodad",
             "link add up0 index 10 type veth peer name up0-peer index 11",
             "link add pod-a index 20 type veth peer name pod-a-peer index 21",
             "link add pod-b index 30 type veth peer name pod-b-peer index 31",
             "link add pod-c index 40 type veth peer name pod-c-peer index 41",
             "link set up0 up",
             "link set up0-peer up",
             "link set pod-a up",
             "link set pod-a-peer up",
             "link set pod-b up",
             "link set pod-b-peer up",
             "link set pod-c up",
             "link set pod-c-peer up",
             "addr add 198.51.100.2/24 dev up0",
             "addr add 2001:db8:1::2/64 dev up0 nodad",
             "route add default via 198.51.100.1",
             "route add default via 2001:db8:1::1",
             "route add 198.18.0.10/32 dev pod-a",
             "route add 2001:db8:18::10/128 dev pod-a",
             "route add 198.18.0.11/32 dev pod-b",
             "route add 198.18.0.50/32 dev pod-b",
             "route add 2001:db8:18::11/128 dev pod-b",
             "route add 2001:db8:18::50/128 dev pod-b",
             "route add 198.18.0.12/32 dev pod-c",
             "route add 2001:db8:18::12/128 dev pod-c",
         }) {
      std::fprintf(ip, "%s\n", command);
    }
    ASSERT_EQ(pclose(ip), 0) << "the lab's ip commands";
    shell("sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1");
    pod_namespace_ = "skouter-attack-pod-" + std::to_string(getpid());
    // One a crashed run of this process's id left behind.
    std::system(("ip netns del " + pod_namespace_ + " 2>/dev/null").c_str());
    shell("ip netns add " + pod_namespace_);
    shell("ip netns set " + pod_namespace_ + " " + std::to_string(kPodNetnsId));
  }

  void enterPodA() {
    const int pod = open(("/run/netns/" + pod_namespace_).c_str(), O_RDONLY | O_CLOEXEC);
    if (pod < 0) throw std::system_error(errno, std::generic_category(), "open pod namespace");
    const int entered = setns(pod, CLONE_NEWNET);
    close(pod);
    if (entered != 0) throw std::system_error(errno, std::generic_category(), "setns");
  }

  // A test thread stuck in the pod's namespace would run the rest of the test there.
  void returnToNode() {
    if (setns(node_namespace_, CLONE_NEWNET) != 0) std::abort();
  }

  int node_namespace_ = -1;
  std::string pod_namespace_;
};

LabTest& lab(DatapathFixture& fixture) { return dynamic_cast<LabTest&>(fixture); }

std::function<void(DatapathFixture&)> ipForwarding(bool on) {
  return [=](DatapathFixture&) {
    const std::string value = on ? "1" : "0";
    shell("sysctl -qw net.ipv4.conf.all.forwarding=" + value +
          " net.ipv6.conf.all.forwarding=" + value);
  };
}

// A table case outside the lab: pods are bound to lo, where BPF_PROG_TEST_RUN runs.
class AttackTest : public PacketCaseTest {};

// =================================================================================
// THREATS.md: "'Always allowed' traffic used as a tunnel: DHCP ports, ICMP errors,
// IGMP, ND/MLD."
//
// Control traffic passes only where it belongs: on the link (DHCP, neighbour
// discovery), to multicast that no router forwards (IGMP, MLD), and ICMP errors back to
// the peer of a flow. Anything else of its shape is judged like any packet; every
// destination below but the gateway's and the pods' is in no rule.

std::vector<PacketCase> hostControlCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  std::vector<PacketCase> cases;
  if (isV4(l)) {
    cases = {
        {.description = "DHCP discover to the limited broadcast passes as control",
         .packet = dhcp(l.unspecified, l.dhcp_servers),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}},
         .check = expectNoFlows()},
        {.description = "DHCP renewal to an on-link server passes as control",
         .packet = dhcp(l.node, l.gateway),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}},
         .check = expectNoFlows()},
        {.description = "DHCP renewal from a node that does not forward passes as control",
         .packet = dhcp(l.node, l.gateway),
         .setup = ipForwarding(false),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "DHCP to an off-link address is judged and dropped",
         .packet = dhcp(l.node, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}},
         .check = expectNoFlows()},
        {.description = "DHCP to a neighbour of another interface is judged and dropped",
         .packet = dhcp(l.node, l.pod_a),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "DHCP to an off-link address the policy allows passes as a flow of it",
         .packet = dhcp(l.node, n.static_ip),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_static", 1}},
         .check = expectTables(
             {flowDescription(IPPROTO_UDP, l.node, 68, n.static_ip, 67, SKOUTER_FLOW_OUTBOUND)},
             {})},
        {.description = "DHCP to a multicast group is judged and dropped",
         .packet = dhcp(l.node, l.global_multicast),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "IGMP report to its group with TTL 1 passes as control",
         .packet = igmp(l.node, l.link_multicast, l.link_multicast, 1),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "IGMP report with a TTL a router would forward is judged and dropped",
         .packet = igmp(l.node, l.global_multicast, l.global_multicast, 2),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "IGMP with data to an off-link unicast address is judged and dropped",
         .packet = igmp(l.node, l.off_link, l.link_multicast, 1),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
    };
  } else {
    cases = {
        {.description = "DHCPv6 solicit to the servers on the link passes as control",
         .packet = dhcp(l.link_local, l.dhcp_servers),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}},
         .check = expectNoFlows()},
        {.description = "DHCPv6 to an on-link global address is judged and dropped",
         .packet = dhcp(l.node, l.gateway),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "DHCPv6 to an off-link address is judged and dropped",
         .packet = dhcp(l.node, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "MLD report with hop limit 1 passes as control",
         .packet = mldReport(l.link_local, l.link_multicast, 1),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "MLD report to a global group with hop limit 1 passes as control",
         .packet = mldReport(l.node, l.global_multicast, 1),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "MLD report with a hop limit a router would forward is judged and dropped",
         .packet = mldReport(l.node, l.global_multicast, 2),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "MLD shaped message to an off-link unicast address is judged and dropped",
         .packet = mldReport(l.node, l.off_link, 1),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour solicitation to a solicited node address passes as control",
         .packet = neighbourSolicitation(l.node, l.solicited_node, l.gateway),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation to an on-link neighbour passes as control",
         .packet = neighbourSolicitation(l.node, l.neighbour, l.neighbour),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description =
             "neighbour solicitation from a node that does not forward passes as control",
         .packet = neighbourSolicitation(l.node, l.gateway, l.gateway),
         .setup = ipForwarding(false),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation from a link-local address to an on-link "
                        "neighbour passes as control",
         .packet = neighbourSolicitation(l.link_local, l.gateway, l.gateway),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour advertisement to all nodes passes as control",
         .packet = neighbourMessage(kNeighbourAdvertisement, l.node, l.all_nodes, l.node),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "router solicitation to all routers passes as control",
         .packet = neighbourMessage(kRouterSolicitation, l.link_local, l.all_routers, l.node),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation to an off-link address is judged and dropped",
         .packet = neighbourSolicitation(l.node, l.off_link, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour solicitation to a neighbour of another interface is judged "
                        "and dropped",
         .packet = neighbourSolicitation(l.node, l.pod_a, l.pod_a),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour advertisement with a hop limit below 255 is judged and dropped",
         .packet = neighbourMessage(kNeighbourAdvertisement, l.node, l.all_nodes, l.node, 64),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "redirect to an off-link address is judged and dropped",
         .packet = neighbourMessage(kRedirect, l.link_local, l.off_link, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
    };
  }
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kOnUplink;
  }
  return cases;
}

class HostControlTrafficTest : public LabTest {};
TEST_P(HostControlTrafficTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostControlTrafficTest,
                         ::testing::ValuesIn(forBothFamilies(hostControlCases)), caseName);

// From a pod, the link is its veth: the node itself and the node's other pods are on
// it; the node's uplink neighbours are not the pod's.
std::vector<PacketCase> podControlCases(const Lab& l) {
  std::vector<PacketCase> cases;
  if (isV4(l)) {
    cases = {
        {.description = "DHCP discover before the pod has an address passes as control",
         .packet = dhcp(l.unspecified, l.dhcp_servers),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "DHCP to the node's own address passes as control",
         .packet = dhcp(l.pod_a, l.node),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}},
         .check = expectNoFlows()},
        {.description = "DHCP to another pod of the node passes as control",
         .packet = dhcp(l.pod_a, l.pod_b),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "DHCP to a neighbour on the node's uplink is judged and dropped",
         .packet = dhcp(l.pod_a, l.gateway),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "DHCP to an off-link address is judged and dropped",
         .packet = dhcp(l.pod_a, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "DHCP to a directly routed address that is no pod's is judged and dropped",
         .packet = dhcp(l.pod_a, l.not_a_pod),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "DHCP from a source that is no pod's to an off-link address is dropped",
         .packet = dhcp(l.stranger, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"pod_unknown_source", 1}}},
        {.description = "DHCP to a multicast group is judged and dropped",
         .packet = dhcp(l.pod_a, l.global_multicast),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "IGMP report to its group with TTL 1 passes as control",
         .packet = igmp(l.pod_a, l.link_multicast, l.link_multicast, 1),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "IGMP report with a TTL a router would forward is judged and dropped",
         .packet = igmp(l.pod_a, l.global_multicast, l.global_multicast, 2),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "IGMP with data to an off-link unicast address is judged and dropped",
         .packet = igmp(l.pod_a, l.off_link, l.link_multicast, 1),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
    };
  } else {
    cases = {
        {.description = "DHCPv6 solicit to the servers on the link passes as control",
         .packet = dhcp(l.link_local, l.dhcp_servers),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "DHCPv6 to the node's global address is judged and dropped",
         .packet = dhcp(l.pod_a, l.node),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour solicitation to another pod passes as control",
         .packet = neighbourSolicitation(l.pod_a, l.pod_b, l.pod_b),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation to the node's address passes as control",
         .packet = neighbourSolicitation(l.pod_a, l.node, l.node),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation to a solicited node address passes as control",
         .packet = neighbourSolicitation(l.link_local, l.solicited_node, l.pod_b),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "neighbour solicitation to a neighbour on the node's uplink is judged "
                        "and dropped",
         .packet = neighbourSolicitation(l.pod_a, l.gateway, l.gateway),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour solicitation to an off-link address is judged and dropped",
         .packet = neighbourSolicitation(l.pod_a, l.off_link, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "neighbour solicitation to a routed address that is no pod's is judged "
                        "and dropped",
         .packet = neighbourSolicitation(l.pod_a, l.not_a_pod, l.not_a_pod),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        // The link-local source is no pod's: unless it is link control, it is dropped as
        // an unknown source.
        {.description = "neighbour solicitation from a link-local address to an off-link "
                        "address is not control",
         .packet = neighbourSolicitation(l.link_local, l.off_link, l.off_link),
         .verdict = Verdict::kDrop,
         .moved = {{"pod_unknown_source", 1}}},
        {.description = "MLD report with hop limit 1 passes as control",
         .packet = mldReport(l.link_local, l.link_multicast, 1),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
        {.description = "MLD report with a hop limit a router would forward is judged and dropped",
         .packet = mldReport(l.pod_a, l.global_multicast, 2),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
    };
  }
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kFromPodA;
  }
  return cases;
}

class PodControlTrafficTest : public LabTest {};
TEST_P(PodControlTrafficTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodControlTrafficTest,
                         ::testing::ValuesIn(forBothFamilies(podControlCases)), caseName);

// ICMP errors pass when they report on a packet the workload received on one of its
// flows and go back to that packet's sender, whatever the policy says of the sender.
std::vector<PacketCase> hostIcmpErrorCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  // A datagram the world sent on a flow it opened, and a segment of one the host opened.
  const Packet inbound_datagram = datagram(n.world, kPeerPort, n.host, kLocalPort);
  const auto inbound_flow =
      DatapathFixture::flowKey(IPPROTO_UDP, n.host, kLocalPort, n.world, kPeerPort);
  const Packet outbound_reply = syn(n.denied, kHttpsPort, n.host, kLocalPort, kTcpSyn | kTcpAck);
  const auto outbound_flow =
      DatapathFixture::flowKey(IPPROTO_TCP, n.host, kLocalPort, n.denied, kHttpsPort);
  const Packet echo = PacketBuilder(n.world, n.host).echoRequest(kEchoId).build();
  const auto echo_flow =
      DatapathFixture::flowKey(icmpProtocol(n.host.family), n.host, kEchoId, n.world, 0);

  std::vector<PacketCase> cases = {
      {.description = "port unreachable for a datagram of an inbound flow passes as control",
       .packet = portUnreachable(n.host, n.world, inbound_datagram),
       .setup = putFlow(inbound_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}}},
      {.description = "time exceeded for a segment of an outbound flow passes as control",
       .packet = timeExceeded(n.host, n.denied, outbound_reply),
       .setup = putFlow(outbound_flow, SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}}},
      {.description = "error about an echo request of an inbound flow passes as control",
       .packet = timeExceeded(n.host, n.world, echo),
       .setup = putFlow(echo_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}}},
      {.description = "error quoting a packet of no flow is judged and dropped",
       .packet = portUnreachable(n.host, n.world, inbound_datagram),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error about a flow sent to a third party is judged and dropped",
       .packet = portUnreachable(n.host, n.denied, inbound_datagram),
       .setup = putFlow(inbound_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      // The host's own packet quoted as if the peer had sent it: the peer is then the
      // quote's destination, not its source.
      {.description = "error quoting the host's own packet of a flow is judged and dropped",
       .packet = portUnreachable(n.host, n.world, datagram(n.host, kLocalPort, n.world, kPeerPort)),
       .setup = putFlow(inbound_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error quoting a pod's flow is not the host's and is dropped",
       .packet = portUnreachable(n.host, n.world, inbound_datagram),
       .setup = putFlow(
           DatapathFixture::flowKey(IPPROTO_UDP, n.host, kLocalPort, n.world, kPeerPort, kPodA),
           SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error quoting a flow on another port is judged and dropped",
       .packet =
           portUnreachable(n.host, n.world, datagram(n.world, kPeerPort, n.host, kLocalPort + 1)),
       .setup = putFlow(inbound_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      // A quote without the ports it would be matched by.
      {.description = "error with its quote cut short is judged and dropped",
       .packet = PacketBuilder(n.host, n.world)
                     .destinationUnreachable([&] {
                       Bytes quote = quoteOf(inbound_datagram);
                       quote.resize(quote.size() - 8);
                       return quote;
                     }())
                     .build(),
       .setup = putFlow(inbound_flow, SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class HostIcmpErrorTest : public AttackTest {};
TEST_P(HostIcmpErrorTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostIcmpErrorTest,
                         ::testing::ValuesIn(forBothFamilies(hostIcmpErrorCases)), caseName);

std::vector<PacketCase> podIcmpErrorCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  const Packet inbound_datagram = datagram(n.world, kPeerPort, l.pod_a, kLocalPort);
  const auto flow_of = [&](std::uint32_t identity, const IpAddress& local) {
    return DatapathFixture::flowKey(IPPROTO_UDP, local, kLocalPort, n.world, kPeerPort, identity);
  };
  std::vector<PacketCase> cases = {
      {.description = "port unreachable for a datagram of the pod's flow passes as control",
       .packet = portUnreachable(l.pod_a, n.world, inbound_datagram),
       .setup = putFlow(flow_of(kPodA, l.pod_a), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}}},
      {.description = "error quoting a packet of no flow is judged and dropped",
       .packet = portUnreachable(l.pod_a, n.world, inbound_datagram),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error about the pod's flow sent to a third party is judged and dropped",
       .packet = portUnreachable(l.pod_a, n.denied, inbound_datagram),
       .setup = putFlow(flow_of(kPodA, l.pod_a), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error quoting another pod's flow is judged and dropped",
       .packet =
           portUnreachable(l.pod_a, n.world, datagram(n.world, kPeerPort, l.pod_b, kLocalPort)),
       .setup = putFlow(flow_of(kPodB, l.pod_b), SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "error quoting the host's flow is not the pod's and is dropped",
       .packet = portUnreachable(l.pod_a, n.world, inbound_datagram),
       .setup = putFlow(flow_of(SKOUTER_HOST_IDENTITY, l.pod_a), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
  };
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kFromPodA;
  }
  return cases;
}

class PodIcmpErrorTest : public LabTest {};
TEST_P(PodIcmpErrorTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodIcmpErrorTest,
                         ::testing::ValuesIn(forBothFamilies(podIcmpErrorCases)), caseName);

// =================================================================================
// THREATS.md: "Replies that are not replies: packets on a 5-tuple that an outside
// packet created."
//
// The accomplice sends the workload a packet first, then the workload "replies". A
// flow opened from outside carries only the responder's side, and is opened only by
// what a local socket takes (or by a TCP SYN or an echo request, which the kernel
// answers itself); it lives in inbound_flows, never in the workload's flows. Each case
// runs the inbound packet first (setup), then the workload's.

std::vector<PacketCase> hostInboundCases(const Lab& l) {
  const IpAddress& node = l.node;
  const IpAddress& peer = l.peer;  // in no rule
  const std::uint8_t icmp = icmpProtocol(node.family);
  const auto inbound = [&](Packet packet) {
    return before(Program::kUplinkIngress, std::move(packet), kOnUplink);
  };
  const std::string ssh_flow =
      flowDescription(IPPROTO_TCP, node, kSshPort, peer, kPeerPort, SKOUTER_FLOW_INBOUND);
  const std::string echo_flow = flowDescription(icmp, node, kEchoId, peer, 0, SKOUTER_FLOW_INBOUND);
  const std::string udp_flow =
      flowDescription(IPPROTO_UDP, node, kLocalPort, peer, kDnsPort, SKOUTER_FLOW_INBOUND);
  const auto established = [=](DatapathFixture& datapath) {
    lab(datapath).connectTcp(peer, kPeerPort, node, kSshPort);
  };

  std::vector<PacketCase> cases = {
      {.description = "SYN out on a connection a bare inbound SYN opened is judged and dropped",
       .packet = syn(node, kSshPort, peer, kPeerPort),
       .setup = inbound(syn(peer, kPeerPort, node, kSshPort)),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectTables({}, {ssh_flow})},
      {.description = "SYN ACK to an inbound SYN passes on its flow",
       .packet = syn(node, kSshPort, peer, kPeerPort, kTcpSyn | kTcpAck),
       .setup = inbound(syn(peer, kPeerPort, node, kSshPort)),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {ssh_flow})},
      {.description = "echo request out on a flow an inbound echo request opened is dropped",
       .packet = PacketBuilder(node, peer).echoRequest(kEchoId).build(),
       .setup = inbound(PacketBuilder(peer, node).echoRequest(kEchoId).build()),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectTables({}, {echo_flow})},
      {.description = "echo reply to an inbound echo request passes on its flow",
       .packet = PacketBuilder(node, peer).echoReply(kEchoId).build(),
       .setup = inbound(PacketBuilder(peer, node).echoRequest(kEchoId).build()),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {echo_flow})},
      {.description = "datagram back to the sender of one to a closed port is judged and dropped",
       .packet = datagram(node, kLocalPort, peer, kDnsPort),
       .setup = inbound(datagram(peer, kDnsPort, node, kLocalPort)),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = all(expectNoFlows(),
                    expectCounted(SKOUTER_HOOK_UPLINK_INGRESS, {{"inbound_no_receiver", 1}}))},
      {.description = "reply to a datagram a local socket received passes on its flow",
       .packet = datagram(node, kLocalPort, peer, kDnsPort),
       .setup = all(
           [=](DatapathFixture& datapath) { datapath.bindSocket(SOCK_DGRAM, node, kLocalPort); },
           inbound(datagram(peer, kDnsPort, node, kLocalPort))),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {udp_flow})},
      {.description = "segment out on a connection only a listening socket knows is dropped",
       .packet = syn(node, kSshPort, peer, kPeerPort, kTcpAck),
       .setup = all(
           [=](DatapathFixture& datapath) {
             const int listener = datapath.bindSocket(SOCK_STREAM, node, kSshPort);
             ASSERT_EQ(listen(listener, 1), 0);
           },
           inbound(syn(peer, kPeerPort, node, kSshPort, kTcpAck))),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      // A connection a local socket holds, whose flow was lost (evicted, a restart, the
      // garbage collector): its next inbound segment restores it.
      {.description = "reply on an established connection whose flow was lost passes again",
       .packet = syn(node, kSshPort, peer, kPeerPort, kTcpAck),
       .setup = all(established, inbound(syn(peer, kPeerPort, node, kSshPort, kTcpAck))),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {ssh_flow})},
      {.description = "SYN out on an established connection's restored flow is dropped",
       .packet = syn(node, kSshPort, peer, kPeerPort),
       .setup = all(established, inbound(syn(peer, kPeerPort, node, kSshPort, kTcpAck))),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectTables({}, {ssh_flow})},
      // No socket lookup tells whether anyone takes an SCTP association.
      {.description = "SCTP out on an association an inbound INIT asked for is dropped",
       .packet = PacketBuilder(node, peer).sctp(kDiameterPort, kDiameterPort).build(),
       .setup = inbound(PacketBuilder(peer, node).sctp(kDiameterPort, kDiameterPort).build()),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
  };
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kOnUplink;
  }
  return cases;
}

class HostInboundHoleTest : public LabTest {};
TEST_P(HostInboundHoleTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostInboundHoleTest,
                         ::testing::ValuesIn(forBothFamilies(hostInboundCases)), caseName);

// For a pod, the socket that receives a datagram must be in the pod's own namespace,
// which the daemon names in its identity (netns id); without it, nothing is found.
std::vector<PacketCase> podInboundCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  const IpAddress& pod = l.pod_a;
  const IpAddress& peer = n.world;  // in no rule of pod A's
  const auto inbound = [&](Packet packet) {
    return before(Program::kPodEgress, std::move(packet), kFromPodA);
  };
  const std::string service_flow =
      flowDescription(IPPROTO_TCP, pod, kServicePort, peer, kPeerPort, SKOUTER_FLOW_INBOUND, kPodA);
  const std::string udp_flow =
      flowDescription(IPPROTO_UDP, pod, kLocalPort, peer, kDnsPort, SKOUTER_FLOW_INBOUND, kPodA);
  const Packet datagram_in = datagram(peer, kDnsPort, pod, kLocalPort);
  const Packet datagram_out = datagram(pod, kLocalPort, peer, kDnsPort);
  const auto no_receiver = expectCounted(SKOUTER_HOOK_POD_EGRESS, {{"inbound_no_receiver", 1}});

  std::vector<PacketCase> cases = {
      {.description = "SYN out on a connection a bare inbound SYN opened is judged and dropped",
       .packet = syn(pod, kServicePort, peer, kPeerPort),
       .setup = inbound(syn(peer, kPeerPort, pod, kServicePort)),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectTables({}, {service_flow})},
      {.description = "SYN ACK to an inbound SYN passes on its flow",
       .packet = syn(pod, kServicePort, peer, kPeerPort, kTcpSyn | kTcpAck),
       .setup = inbound(syn(peer, kPeerPort, pod, kServicePort)),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "echo request out on a flow an inbound echo request opened is dropped",
       .packet = PacketBuilder(pod, peer).echoRequest(kEchoId).build(),
       .setup = inbound(PacketBuilder(peer, pod).echoRequest(kEchoId).build()),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "echo reply to an inbound echo request passes on its flow",
       .packet = PacketBuilder(pod, peer).echoReply(kEchoId).build(),
       .setup = inbound(PacketBuilder(peer, pod).echoRequest(kEchoId).build()),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "reply to a datagram a socket in the pod received passes on its flow",
       .packet = datagram_out,
       .setup = all(
           [=](DatapathFixture& datapath) {
             lab(datapath).bindInPodA(SOCK_DGRAM, pod, kLocalPort);
           },
           inbound(datagram_in)),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {udp_flow})},
      {.description = "datagram back to the sender of one no socket of the pod took is dropped",
       .packet = datagram_out,
       .setup = inbound(datagram_in),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = all(expectNoFlows(), no_receiver)},
      {.description = "reply on a pod's established connection whose flow was lost passes again",
       .packet = syn(pod, kServicePort, peer, kPeerPort, kTcpAck),
       .setup = all(
           [=](DatapathFixture& datapath) {
             lab(datapath).connectTcpInPodA(peer, kPeerPort, pod, kServicePort);
           },
           inbound(syn(peer, kPeerPort, pod, kServicePort, kTcpAck))),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectTables({}, {service_flow})},
      {.description = "segment out on a connection only the pod's listening socket knows is "
                      "dropped",
       .packet = syn(pod, kServicePort, peer, kPeerPort, kTcpAck),
       .setup = all(
           [=](DatapathFixture& datapath) {
             ASSERT_EQ(listen(lab(datapath).bindInPodA(SOCK_STREAM, pod, kServicePort), 1), 0);
           },
           inbound(syn(peer, kPeerPort, pod, kServicePort, kTcpAck))),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      {.description = "a socket of the node is no receiver for the pod",
       .packet = datagram_out,
       .setup =
           all([=](DatapathFixture& datapath) { datapath.bindSocket(SOCK_DGRAM, pod, kLocalPort); },
               inbound(datagram_in)),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = all(expectNoFlows(), no_receiver)},
      {.description = "a pod whose namespace is not known has no receivers",
       .packet = datagram_out,
       .setup = all(
           [=](DatapathFixture& datapath) {
             datapath.addIdentity(pod, kPodA, 0, kPodAIfindex, kPodNetnsId);
             lab(datapath).bindInPodA(SOCK_DGRAM, pod, kLocalPort);
           },
           inbound(datagram_in)),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = all(expectNoFlows(), no_receiver)},
      {.description = "SCTP out on an association an inbound INIT asked for is dropped",
       .packet = PacketBuilder(pod, peer).sctp(kDiameterPort, kDiameterPort).build(),
       .setup = inbound(PacketBuilder(peer, pod).sctp(kDiameterPort, kDiameterPort).build()),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
  };
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kFromPodA;
  }
  return cases;
}

class PodInboundHoleTest : public LabTest {};
TEST_P(PodInboundHoleTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodInboundHoleTest,
                         ::testing::ValuesIn(forBothFamilies(podInboundCases)), caseName);

// =================================================================================
// THREATS.md: "Source address spoofing between pods on one node; [...]"
//
// A pod's address is bound to the interface its packets come in by: from any other, it
// is a neighbour posing as the pod, to use its policy or (posing as a pod no Egress
// selects) to have none.

std::vector<PacketCase> spoofingCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  // Only pod A may reach the static address.
  const Packet as_pod_a = syn(l.pod_a, kLocalPort, n.static_ip, kHttpsPort);
  const Packet as_pod_c = syn(l.pod_c, kLocalPort, n.denied, kHttpsPort);
  std::vector<PacketCase> cases = {
      {.description = "pod A from its own interface is judged by its policy",
       .packet = as_pod_a,
       .context = {.ifindex = kPodAIfindex},
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectTables({flowDescription(IPPROTO_TCP, l.pod_a, kLocalPort, n.static_ip,
                                              kHttpsPort, SKOUTER_FLOW_OUTBOUND, kPodA)},
                             {})},
      {.description = "pod B posing as pod A is dropped as a spoofed source",
       .packet = as_pod_a,
       .context = {.ifindex = kPodBIfindex},
       .verdict = Verdict::kDrop,
       .moved = {{"pod_spoofed_source", 1}},
       .check = expectNoFlows()},
      {.description = "a spoofed source passes in audit mode and is counted",
       .packet = as_pod_a,
       .context = {.ifindex = kPodBIfindex},
       .setup = setFlags(kPolicedAndAudited),
       .verdict = Verdict::kPass,
       .moved = {{"pod_spoofed_source", 1}},
       .check = expectNoFlows()},
      {.description = "pod B posing as pod A cannot ride pod A's flow",
       .packet = syn(l.pod_a, kLocalPort, n.denied, kHttpsPort, kTcpAck),
       .context = {.ifindex = kPodBIfindex},
       .setup = putFlow(
           DatapathFixture::flowKey(IPPROTO_TCP, l.pod_a, kLocalPort, n.denied, kHttpsPort, kPodA),
           SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"pod_spoofed_source", 1}}},
      {.description = "the unpoliced pod from its own interface passes untouched",
       .packet = as_pod_c,
       .context = {.ifindex = kPodCIfindex},
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},
      {.description = "pod A posing as the unpoliced pod is dropped as a spoofed source",
       .packet = as_pod_c,
       .context = {.ifindex = kPodAIfindex},
       .verdict = Verdict::kDrop,
       .moved = {{"pod_spoofed_source", 1}}},
      // Migrated from a layout that bound no address to an interface: until the pod
      // firewall binds it, no interface is its own.
      {.description = "an address bound to no interface yet is dropped from a pod interface",
       .packet = syn(l.unbound, kLocalPort, n.denied, kHttpsPort),
       .context = {.ifindex = kPodAIfindex},
       .verdict = Verdict::kDrop,
       .moved = {{"pod_spoofed_source", 1}}},
      {.description = "an address bound to no interface yet is dropped from lo",
       .packet = syn(l.unbound, kLocalPort, n.denied, kHttpsPort),
       .verdict = Verdict::kDrop,
       .moved = {{"pod_spoofed_source", 1}}},
      {.description = "a source that is no pod's is dropped",
       .packet = syn(l.stranger, kLocalPort, n.learned, kHttpsPort),
       .context = {.ifindex = kPodAIfindex},
       .verdict = Verdict::kDrop,
       .moved = {{"pod_unknown_source", 1}}},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class PodSpoofingTest : public LabTest {};
TEST_P(PodSpoofingTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodSpoofingTest,
                         ::testing::ValuesIn(forBothFamilies(spoofingCases)), caseName);

// =================================================================================
// THREATS.md: "[...]; forwarded traffic (containers, VMs) that is neither host nor
// pod."
//
// A packet forwarded out of the uplink is judged by the interface it came in by: a
// pod's interface (judged there) and a transit interface pass; a local guest's, or one
// nobody knows, is judged as the host's; one nobody knows is dropped when every pod
// interface is known to carry the pod programs (the guard).

std::vector<PacketCase> forwardedCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  const auto from = [](skouter_interface_kind kind) {
    return [=](DatapathFixture& datapath) { datapath.setInterfaceKind(kForwardedIfindex, kind); };
  };
  const Packet denied_syn = syn(n.host, kLocalPort, n.denied, kHttpsPort);
  const Packet allowed_syn = syn(n.host, kLocalPort, n.learned, kHttpsPort);
  const std::string host_flow = flowDescription(IPPROTO_TCP, n.host, kLocalPort, n.learned,
                                                kHttpsPort, SKOUTER_FLOW_OUTBOUND);
  const auto query_of = [&](std::uint32_t identity) {
    skouter_dns_query_value value{};
    value.identity = identity;
    return queryDescription(DatapathFixture::queryKey(n.host, kLocalPort, kDnsId), value);
  };

  std::vector<PacketCase> cases = {
      {.description = "from a pod interface a denied SYN passes untouched",
       .packet = denied_syn,
       .setup = from(SKOUTER_INTERFACE_POD),
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},
      // After SNAT the answer comes back to the host's address: noted for nobody, it
      // passes unheld instead of being dropped as unsolicited.
      {.description = "from a pod interface a query is noted for nobody",
       .packet = dnsQueryPacket(n.host, n.resolver),
       .setup = from(SKOUTER_INTERFACE_POD),
       .verdict = Verdict::kPass,
       .moved = {{"dns_query_recorded", 1}},
       .check = expectQueries({query_of(SKOUTER_UNPOLICED_IDENTITY)})},
      {.description = "through a transit interface a denied SYN passes untouched",
       .packet = denied_syn,
       .setup = from(SKOUTER_INTERFACE_TRANSIT),
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},
      {.description = "from a guest interface a denied SYN is the host's and is dropped",
       .packet = denied_syn,
       .setup = from(SKOUTER_INTERFACE_GUEST),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "from a guest interface an allowed SYN opens a flow of the host's",
       .packet = allowed_syn,
       .setup = from(SKOUTER_INTERFACE_GUEST),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectTables({host_flow}, {})},
      {.description = "from a guest interface a query is the host's and its answer is held",
       .packet = dnsQueryPacket(n.host, n.resolver),
       .setup = from(SKOUTER_INTERFACE_GUEST),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectQueries({query_of(SKOUTER_HOST_IDENTITY)})},
      {.description = "from an unknown interface a denied SYN is the host's and is dropped",
       .packet = denied_syn,
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "from an unknown interface an allowed SYN opens a flow of the host's",
       .packet = allowed_syn,
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectTables({host_flow}, {})},
      {.description = "guarded, from an unknown interface even an allowed SYN is dropped",
       .packet = allowed_syn,
       .setup = setFlags(kGuarded),
       .verdict = Verdict::kDrop,
       .moved = {{"forwarded_unknown_interface", 1}},
       .check = expectNoFlows()},
      {.description = "guarded, from an unknown interface a query is dropped and not noted",
       .packet = dnsQueryPacket(n.host, n.resolver),
       .setup = setFlags(kGuarded),
       .verdict = Verdict::kDrop,
       .moved = {{"forwarded_unknown_interface", 1}},
       .check = expectQueries({})},
      {.description = "guarded, from an unknown interface passes in audit mode and is counted",
       .packet = denied_syn,
       .setup = setFlags(kGuarded | SKOUTER_CFG_AUDIT),
       .verdict = Verdict::kPass,
       .moved = {{"forwarded_unknown_interface", 1}}},
      {.description = "guarded, from an unknown interface is dropped though the host is not "
                      "policed",
       .packet = denied_syn,
       .setup = setFlags(SKOUTER_CFG_GUARD_UNKNOWN_INTERFACES),
       .verdict = Verdict::kDrop,
       .moved = {{"forwarded_unknown_interface", 1}}},
      {.description = "guarded, from a guest interface an allowed SYN is judged and passes",
       .packet = allowed_syn,
       .setup = all(setFlags(kGuarded), from(SKOUTER_INTERFACE_GUEST)),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}}},
      {.description = "guarded, from a pod interface a denied SYN passes untouched",
       .packet = denied_syn,
       .setup = all(setFlags(kGuarded), from(SKOUTER_INTERFACE_POD)),
       .verdict = Verdict::kPass},
      {.description = "from a guest interface a denied SYN passes when the host is not policed",
       .packet = denied_syn,
       .setup = all(setFlags(0), from(SKOUTER_INTERFACE_GUEST)),
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},
  };
  for (PacketCase& packet_case : cases) {
    packet_case.network = l.network;
    packet_case.context = kForwarded;
  }
  // The host's own packets are no forwarded ones, guard or not.
  cases.push_back({.description = "guarded, the host's own allowed SYN passes",
                   .network = l.network,
                   .packet = allowed_syn,
                   .context = kLocallyOriginated,
                   .setup = setFlags(kGuarded),
                   .verdict = Verdict::kPass,
                   .moved = {{"egress_allowed_learned", 1}}});
  cases.push_back({.description = "guarded, the host's own denied SYN is judged and dropped",
                   .network = l.network,
                   .packet = denied_syn,
                   .context = kLocallyOriginated,
                   .setup = setFlags(kGuarded),
                   .verdict = Verdict::kDrop,
                   .moved = {{"egress_denied", 1}}});
  return cases;
}

class ForwardedTrafficTest : public AttackTest {};
TEST_P(ForwardedTrafficTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, ForwardedTrafficTest,
                         ::testing::ValuesIn(forBothFamilies(forwardedCases)), caseName);

// =================================================================================
// THREATS.md: "Source routing: IPv4 LSRR/SSRR options and IPv6 routing headers
// (segment routing) name a first hop that is allowed and a final destination that is
// not; judge the final destination. Frames the parser gives up on (VLAN stacks, long
// header chains) are dropped, not passed."
//
// A source-routed packet's final destination is not in its destination field: it is
// dropped on the way out (and counted), whatever its first hop. So are frames whose IP
// the parser cannot reach (more than two VLAN tags, MPLS), which a receiver could
// still strip and route.

constexpr std::uint8_t kLsrr = 131;
constexpr std::uint8_t kSsrr = 137;

// An IPv4 source route option through `hop` (type, length, pointer, one address).
Bytes sourceRoute(std::uint8_t type, const IpAddress& hop) {
  Bytes option = {type, 7, 4};
  option.insert(option.end(), hop.bytes.begin(), hop.bytes.begin() + 4);
  return option;
}

const Bytes kRouterAlert = {0x94, 0x04, 0x00, 0x00};

// `builder` carrying a source route to `final_destination`: an IPv4 option, or an IPv6
// routing header with one segment left.
PacketBuilder sourceRouted(PacketBuilder builder, const IpAddress& final_destination,
                           std::uint8_t type = kLsrr) {
  if (final_destination.family == IpFamily::kV4) {
    builder.ipv4Options(sourceRoute(type, final_destination));
  } else {
    builder.routing(1);
  }
  return builder;
}

std::vector<PacketCase> outboundSourceRouteCases(const Lab& l, const IpAddress& source) {
  const TestNetwork& n = *l.network;
  const bool v4 = isV4(l);
  // The first hop is allowed (learned); the route ends at an address in no rule.
  std::vector<PacketCase> cases = {
      {.description = "source route through an allowed first hop is dropped",
       .packet = sourceRouted(PacketBuilder(source, n.learned), l.off_link)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"source_routed", 1}},
       .check = expectNoFlows()},
      {.description = "source route to a trusted resolver is dropped and not noted",
       .packet = sourceRouted(PacketBuilder(source, n.resolver), l.off_link)
                     .udp(kLocalPort, kDnsPort, dnsQuery(kDnsId, "example.com", source.family))
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"source_routed", 1}},
       .check = expectQueries({})},
      {.description = "source route passes in audit mode and is counted",
       .packet = sourceRouted(PacketBuilder(source, n.learned), l.off_link)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .setup = setFlags(kPolicedAndAudited),
       .verdict = Verdict::kPass,
       .moved = {{"source_routed", 1}},
       .check = expectNoFlows()},
      {.description = "frame with three VLAN tags is dropped even to an allowed address",
       .packet = PacketBuilder(source, n.learned)
                     .vlan(100)
                     .vlan(200)
                     .vlan(300)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}},
       .check = expectNoFlows()},
      {.description = "query in three VLAN tags is dropped and not noted",
       .packet = PacketBuilder(source, n.resolver)
                     .vlan(100)
                     .vlan(200)
                     .vlan(300)
                     .udp(kLocalPort, kDnsPort, dnsQuery(kDnsId, "example.com", source.family))
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}},
       .check = expectQueries({})},
      {.description = "frame with two VLAN tags to an allowed address passes",
       .packet = PacketBuilder(source, n.learned)
                     .vlan(100)
                     .vlan(200)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}}},
      {.description = "MPLS frame is dropped even to an allowed address",
       .packet =
           PacketBuilder(source, n.learned).mpls(16).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}}},
      {.description = "multicast MPLS frame behind a VLAN tag is dropped",
       .packet = PacketBuilder(source, n.learned)
                     .vlan(100)
                     .mpls(16)
                     .mpls(17, true)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}}},
      {.description = "frame with three VLAN tags passes in audit mode and is counted",
       .packet = PacketBuilder(source, n.denied)
                     .vlan(100)
                     .vlan(200)
                     .vlan(300)
                     .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                     .build(),
       .setup = setFlags(kPolicedAndAudited),
       .verdict = Verdict::kPass,
       .moved = {{"parse_error", 1}}},
  };
  if (v4) {
    const std::vector<PacketCase> ipv4_only = {
        {.description = "strict source route after other options is dropped",
         .packet = PacketBuilder(source, n.learned)
                       .ipv4Options([&] {
                         Bytes options = {1};  // No-Operation
                         options.insert(options.end(), kRouterAlert.begin(), kRouterAlert.end());
                         const Bytes route = sourceRoute(kSsrr, l.off_link);
                         options.insert(options.end(), route.begin(), route.end());
                         return options;
                       }())
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"source_routed", 1}}},
        {.description = "router alert option to an allowed address passes",
         .packet = PacketBuilder(source, n.learned)
                       .ipv4Options(kRouterAlert)
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}}},
        {.description = "router alert option to a denied address is judged and dropped",
         .packet = PacketBuilder(source, n.denied)
                       .ipv4Options(kRouterAlert)
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        // Receivers read no option past End of Options.
        {.description = "source route after the end of the options is no route",
         .packet = PacketBuilder(source, n.learned)
                       .ipv4Options([&] {
                         Bytes options = {0};  // End of Options
                         const Bytes route = sourceRoute(kLsrr, l.off_link);
                         options.insert(options.end(), route.begin(), route.end());
                         return options;
                       }())
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}}},
    };
    cases.insert(cases.end(), ipv4_only.begin(), ipv4_only.end());
  } else {
    const std::vector<PacketCase> ipv6_only = {
        {.description = "routing header with segments left behind a hop by hop header is dropped",
         .packet = PacketBuilder(source, n.learned)
                       .hopByHop()
                       .routing(2)
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"source_routed", 1}}},
        {.description = "routing header with no segments left to an allowed address passes",
         .packet = PacketBuilder(source, n.learned)
                       .routing(0)
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}}},
        {.description = "routing header with no segments left to a denied address is dropped",
         .packet = PacketBuilder(source, n.denied)
                       .routing(0)
                       .tcp(kLocalPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
    };
    cases.insert(cases.end(), ipv6_only.begin(), ipv6_only.end());
  }
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

std::vector<PacketCase> hostSourceRouteCases(const Lab& l) {
  std::vector<PacketCase> cases = outboundSourceRouteCases(l, l.network->host);
  if (isV4(l)) {
    cases.push_back({.description = "ARP passes",
                     .network = l.network,
                     .packet = {.frame = arpRequest(l.network->host, l.network->denied)},
                     .verdict = Verdict::kPass});
  }
  return cases;
}

class HostSourceRouteTest : public AttackTest {};
TEST_P(HostSourceRouteTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostSourceRouteTest,
                         ::testing::ValuesIn(forBothFamilies(hostSourceRouteCases)), caseName);

// Pod A's policy allows the learned address, as the host's does; bound to lo.
class PodSourceRouteTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (HasFatalFailure()) return;
    const Lab& l = labOf(*GetParam().network);
    addIdentity(l.pod_a, kPodA);
    allowIpFor(kPodA, l.network->learned, datapathNowNs() + 3600 * kNanosPerSecond);
  }
};
TEST_P(PodSourceRouteTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodSourceRouteTest,
                         ::testing::ValuesIn(forBothFamilies(+[](const Lab& l) {
                           std::vector<PacketCase> cases = outboundSourceRouteCases(l, l.pod_a);
                           if (isV4(l)) {
                             cases.push_back({.description = "ARP passes",
                                              .network = l.network,
                                              .packet = {.frame = arpRequest(l.pod_a, l.pod_b)},
                                              .verdict = Verdict::kPass});
                           }
                           return cases;
                         })),
                         caseName);

// Coming in, such packets are not the datapath's to judge: they pass untouched (the
// kernel drops source routes unless told otherwise), and open no flow.
std::vector<PacketCase> inboundSourceRouteCases(const Lab& l, const IpAddress& local,
                                                Counters moved) {
  const TestNetwork& n = *l.network;
  std::vector<PacketCase> cases = {
      {.description = "source-routed SYN from outside passes untouched and opens no flow",
       .packet = sourceRouted(PacketBuilder(n.world, local), l.off_link)
                     .tcp(kPeerPort, kSshPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kPass,
       .moved = moved,
       .check = expectNoFlows()},
      {.description = "SYN from outside in three VLAN tags passes untouched and opens no flow",
       .packet = PacketBuilder(n.world, local)
                     .vlan(100)
                     .vlan(200)
                     .vlan(300)
                     .tcp(kPeerPort, kSshPort, kTcpSyn)
                     .build(),
       .verdict = Verdict::kPass,
       .moved = moved,
       .check = expectNoFlows()},
      {.description = "MPLS frame from outside passes untouched and opens no flow",
       .packet = PacketBuilder(n.world, local).mpls(16).tcp(kPeerPort, kSshPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .moved = moved,
       .check = expectNoFlows()},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

// uplink_ingress counts what it cannot parse.
class HostInboundSourceRouteTest : public AttackTest {};
TEST_P(HostInboundSourceRouteTest, Verdict) { runCase(Program::kUplinkIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostInboundSourceRouteTest,
                         ::testing::ValuesIn(forBothFamilies(+[](const Lab& l) {
                           return inboundSourceRouteCases(l, l.network->host, {{"parse_error", 1}});
                         })),
                         caseName);

// pod_egress passes it without a count.
class PodInboundSourceRouteTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (HasFatalFailure()) return;
    addIdentity(labOf(*GetParam().network).pod_a, kPodA);
  }
};
TEST_P(PodInboundSourceRouteTest, Verdict) { runCase(Program::kPodEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodInboundSourceRouteTest,
                         ::testing::ValuesIn(forBothFamilies(+[](const Lab& l) {
                           return inboundSourceRouteCases(l, l.pod_a, {});
                         })),
                         caseName);

// =================================================================================
// THREATS.md, what must hold, 3: "A workload cannot make the firewall act for another
// workload: it cannot pose as another pod, open holes in another's policy, evict
// another's state, [...]"
//
// Flows and DNS-over-TCP connections are the identity's that made them. Here pod A's
// address has passed to pod B (pod A went away, pod B got the address): what pod A left
// carries nothing of pod B's. Pods are bound to lo.

std::vector<PacketCase> identityCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  const IpAddress& address = l.pod_a;  // pod B's now
  const auto outbound_flow_of = [&](std::uint32_t identity) {
    return DatapathFixture::flowKey(IPPROTO_TCP, address, kLocalPort, n.denied, kHttpsPort,
                                    identity);
  };
  const auto inbound_flow_of = [&](std::uint32_t identity) {
    return DatapathFixture::flowKey(IPPROTO_TCP, address, kServicePort, n.world, kPeerPort,
                                    identity);
  };
  const Packet ack = syn(address, kLocalPort, n.denied, kHttpsPort, kTcpAck);
  const Packet syn_ack = syn(address, kServicePort, n.world, kPeerPort, kTcpSyn | kTcpAck);
  const auto connection = DatapathFixture::tcpConnectionKey(address, kLocalPort);
  const Packet to_resolver = syn(address, kLocalPort, n.resolver, kDnsPort, kTcpAck);
  const auto connection_of = [=](std::uint32_t identity) {
    skouter_dns_query_value value{};
    value.identity = identity;
    return queryDescription(connection, value);
  };
  // The connection's note, stamped by this case's packet.
  const auto expect_noted_for = [=](std::uint32_t identity) {
    return [=](DatapathFixture& datapath) {
      EXPECT_EQ(datapath.queryDescriptions(), Descriptions{connection_of(identity)});
      const auto noted = datapath.datapath().dnsQueries().lookup(connection);
      ASSERT_TRUE(noted.has_value());
      datapath.expectStampedDuringTest(noted->sent_ns);
    };
  };
  // What the resolver sends back on the connection is held for pod B.
  const auto answer_held_for_pod_b = [=](DatapathFixture& datapath) {
    const Packet answer = PacketBuilder(n.resolver, address)
                              .tcp(kDnsPort, kLocalPort, kTcpPsh | kTcpAck,
                                   tcpFramed(dnsAnswer(kDnsId, "example.com", n.learned)))
                              .build();
    EXPECT_EQ(datapath.runPodEgress(answer), Verdict::kDrop);
    const auto held = datapath.drainAnswers();
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].header.identity, kPodB);
  };

  std::vector<PacketCase> cases = {
      {.description = "pod A's flow does not carry pod B's packets on its old address",
       .packet = ack,
       .setup = putFlow(outbound_flow_of(kPodA), SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "pod B's own flow carries its packets",
       .packet = ack,
       .setup = putFlow(outbound_flow_of(kPodB), SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "the host's flow does not carry a pod's packets",
       .packet = ack,
       .setup = putFlow(outbound_flow_of(SKOUTER_HOST_IDENTITY), SKOUTER_FLOW_OUTBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "pod A's inbound flow does not carry pod B's replies",
       .packet = syn_ack,
       .setup = putFlow(inbound_flow_of(kPodA), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "pod B's own inbound flow carries its replies",
       .packet = syn_ack,
       .setup = putFlow(inbound_flow_of(kPodB), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "an error about pod A's flow is not pod B's to send",
       .packet = portUnreachable(address, n.world,
                                 syn(n.world, kPeerPort, address, kServicePort, kTcpAck)),
       .setup = putFlow(inbound_flow_of(kPodA), SKOUTER_FLOW_INBOUND),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      // A connection to the resolver pod A left noted would otherwise hold the
      // resolver's answers for pod A, whose policy then decides them.
      {.description = "a resolver connection noted for pod A is taken over by pod B",
       .packet = to_resolver,
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(connection, datapathNowNs() - 10 * kNanosPerSecond, {}, kPodA);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = all(expect_noted_for(kPodB), answer_held_for_pod_b)},
      {.description = "a resolver connection noted for pod B is refreshed, not noted again",
       .packet = to_resolver,
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(connection, datapathNowNs() - 10 * kNanosPerSecond, {}, kPodB);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}},
       .check = all(expect_noted_for(kPodB), answer_held_for_pod_b)},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class IdentityIsolationTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (HasFatalFailure()) return;
    addIdentity(labOf(*GetParam().network).pod_a, kPodB);
  }
};
TEST_P(IdentityIsolationTest, Verdict) { runCase(Program::kPodIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, IdentityIsolationTest,
                         ::testing::ValuesIn(forBothFamilies(identityCases)), caseName);

// =================================================================================
// THREATS.md, what must hold, 1: "No packet of a policed workload reaches an address
// its policy does not allow, [...] including while the daemon restarts or is down
// (fail-closed unless the operator chose `--fail-open`)."
//
// Another CPU or the daemon may stamp a time just after a program read the clock: a
// flow or heartbeat stamped "in the future" is fresh. Taken as centuries old, a live
// flow would be judged anew, and a live daemon taken for gone (fail-open, answers let
// through unheld).

std::vector<PacketCase> freshnessCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  std::vector<PacketCase> cases = {
      {.description = "a flow stamped after the program read the clock carries its packets",
       .packet = syn(n.host, kLocalPort, n.denied, kHttpsPort, kTcpAck),
       .setup =
           putFlow(DatapathFixture::flowKey(IPPROTO_TCP, n.host, kLocalPort, n.denied, kHttpsPort),
                   SKOUTER_FLOW_OUTBOUND, 10),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "an inbound flow stamped after the program read the clock carries replies",
       .packet = syn(n.host, kSshPort, n.world, kPeerPort, kTcpSyn | kTcpAck),
       .setup = putFlow(DatapathFixture::flowKey(IPPROTO_TCP, n.host, kSshPort, n.world, kPeerPort),
                        SKOUTER_FLOW_INBOUND, 10),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
      {.description = "a heartbeat stamped after the program read the clock keeps fail open off",
       .packet = syn(n.host, kLocalPort, n.denied, kHttpsPort),
       .setup = all(setFlags(SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_FAIL_OPEN),
                    [](DatapathFixture& datapath) {
                      datapath.beatAt(datapathNowNs() + 10 * kNanosPerSecond);
                    }),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "a stale heartbeat with fail open passes a denied SYN",
       .packet = syn(n.host, kLocalPort, n.denied, kHttpsPort),
       .setup = all(setFlags(SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_FAIL_OPEN),
                    [](DatapathFixture& datapath) { datapath.beatStale(); }),
       .verdict = Verdict::kPass,
       .moved = {{"egress_fail_open", 1}}},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class FreshnessTest : public AttackTest {};
TEST_P(FreshnessTest, Verdict) { runCase(Program::kUplinkEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, FreshnessTest,
                         ::testing::ValuesIn(forBothFamilies(freshnessCases)), caseName);

std::vector<PacketCase> answerFreshnessCases(const Lab& l) {
  const TestNetwork& n = *l.network;
  const auto record_query = [=](DatapathFixture& datapath) {
    datapath.putQuery(DatapathFixture::queryKey(n.host, kLocalPort, kDnsId), datapathNowNs());
  };
  const Packet answer = PacketBuilder(n.resolver, n.host)
                            .udp(kDnsPort, kLocalPort, dnsAnswer(kDnsId, "example.com", n.learned))
                            .build();
  std::vector<PacketCase> cases = {
      {.description = "an answer is held while the heartbeat is stamped after the program "
                      "read the clock",
       .packet = answer,
       .setup = all(record_query,
                    [](DatapathFixture& datapath) {
                      datapath.beatAt(datapathNowNs() + 10 * kNanosPerSecond);
                    }),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}}},
      {.description = "an answer passes unheld while the heartbeat is stale",
       .packet = answer,
       .setup = all(record_query, [](DatapathFixture& datapath) { datapath.beatStale(); }),
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class AnswerFreshnessTest : public AttackTest {};
TEST_P(AnswerFreshnessTest, Verdict) { runCase(Program::kUplinkIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, AnswerFreshnessTest,
                         ::testing::ValuesIn(forBothFamilies(answerFreshnessCases)), caseName);

// =================================================================================
// THREATS.md, what must hold, 3: "A workload cannot make the firewall act for another
// workload: [...] evict another's state, or starve the daemon so that others' answers
// pass unchecked."
//
// Every workload's answers go through one ring to the daemon. A workload whose
// resolver answers faster than the daemon reads (large TCP segments, a burst of UDP
// answers) could fill it, and every other workload's answers would then be dropped:
// their DNS fails. Each identity holds at most its quota of the ring unread; beyond
// it its own answers are dropped and counted, the query stays recorded for the
// client's retry, and the others' answers are still held. Pods are bound to lo.

constexpr std::uint32_t kAnswerQuota = 256 * 1024;
constexpr std::uint16_t kAnswerPort = 40053;

// The bytes `packet` takes in the answers ring once held: the record's header and the
// frame, in the ring's 8-byte units behind its own header.
std::uint64_t ringFootprint(const Packet& packet) {
  return SKOUTER_RINGBUF_FOOTPRINT(sizeof(skouter_answer_header) + packet.frame.size());
}

// What the programs counted of `identity`'s answers put into the ring, and what the
// daemon counted of them as read.
std::function<void(DatapathFixture&)> ringHeld(std::uint32_t identity, std::uint64_t punted,
                                               std::uint64_t consumed = 0) {
  return [=](DatapathFixture& datapath) {
    ASSERT_EQ(datapath.datapath().answerBytesPunted().update(identity, {.bytes = punted}), 0);
    if (consumed == 0) return;
    ASSERT_EQ(datapath.datapath().answerBytesConsumed().update(identity, {.bytes = consumed}), 0);
  };
}

std::uint64_t puntedBytes(DatapathFixture& datapath, std::uint32_t identity) {
  const auto punted = datapath.datapath().answerBytesPunted().lookup(identity);
  return punted ? punted->bytes : 0;
}

// The case's answer went into the ring for `identity`, and counts against it.
std::function<void(DatapathFixture&)> heldFor(std::uint32_t identity, std::uint64_t before,
                                              std::uint64_t footprint) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(puntedBytes(datapath, identity), before + footprint);
    const auto held = datapath.drainAnswers();
    ASSERT_EQ(held.size(), 1u);
    EXPECT_EQ(held[0].header.identity, identity);
  };
}

// The case's answer is not in the ring and nothing more is counted against
// `identity`; `queries_left` are still recorded (a dropped answer's query stays, so
// the client's retry is held).
std::function<void(DatapathFixture&)> notHeldFor(std::uint32_t identity, std::uint64_t before,
                                                 std::size_t queries_left = 1) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(puntedBytes(datapath, identity), before);
    EXPECT_TRUE(datapath.drainAnswers().empty());
    EXPECT_EQ(datapath.queries().size(), queries_left);
  };
}

std::vector<PacketCase> answerQuotaCases(const Lab& l, const IpAddress& client,
                                         std::uint32_t identity, std::uint32_t other) {
  const TestNetwork& n = *l.network;
  const Packet answer = PacketBuilder(n.resolver, client)
                            .udp(kDnsPort, kAnswerPort, dnsAnswer(kDnsId, "example.com", n.learned))
                            .build();
  const Packet segment = PacketBuilder(n.resolver, client)
                             .tcp(kDnsPort, kAnswerPort, kTcpPsh | kTcpAck,
                                  tcpFramed(dnsAnswer(kDnsId, "example.com", n.learned)))
                             .build();
  const std::uint64_t footprint = ringFootprint(answer);
  const auto query_of = [=](std::uint32_t who) {
    return [=](DatapathFixture& datapath) {
      datapath.putQuery(DatapathFixture::queryKey(client, kAnswerPort, kDnsId), datapathNowNs(), {},
                        who);
    };
  };
  const auto quota = [](DatapathFixture& datapath) { datapath.setAnswerQuotaBytes(kAnswerQuota); };
  const auto query = all(quota, query_of(identity));
  std::vector<PacketCase> cases = {
      {.description = "an answer is dropped while its workload holds its share of the ring",
       .packet = answer,
       .setup = all(query, ringHeld(identity, kAnswerQuota)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_over_quota", 1}},
       .check = notHeldFor(identity, kAnswerQuota)},
      {.description = "an answer is dropped when it would take its workload past its share",
       .packet = answer,
       .setup = all(query, ringHeld(identity, kAnswerQuota - footprint + 1)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_over_quota", 1}},
       .check = notHeldFor(identity, kAnswerQuota - footprint + 1)},
      {.description = "an answer that fills the share of its workload exactly is held",
       .packet = answer,
       .setup = all(query, ringHeld(identity, kAnswerQuota - footprint)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = heldFor(identity, kAnswerQuota - footprint, footprint)},
      {.description = "an answer is held while another workload holds its share of the ring",
       .packet = answer,
       .setup = all(query, ringHeld(other, kAnswerQuota)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = heldFor(identity, 0, footprint)},
      {.description = "an answer is held once the daemon has read what its workload held",
       .packet = answer,
       .setup = all(query, ringHeld(identity, 10 * kAnswerQuota, 10 * kAnswerQuota)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = heldFor(identity, 10 * kAnswerQuota, footprint)},
      // The daemon may read a record before the program that put it there counts it.
      {.description = "an answer is held when the daemon counted more read than was put",
       .packet = answer,
       .setup = all(query, ringHeld(identity, kAnswerQuota, kAnswerQuota + footprint)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = heldFor(identity, kAnswerQuota, footprint)},
      {.description = "without a quota an answer is held whatever its workload holds",
       .packet = answer,
       .setup = all(query_of(identity), ringHeld(identity, 100 * kAnswerQuota)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = heldFor(identity, 100 * kAnswerQuota, footprint)},
      // The failsafe comes first: DNS never goes dark while the daemon is away.
      {.description = "an answer over the share of its workload passes while the daemon is silent",
       .packet = answer,
       .setup = all(query, ringHeld(identity, kAnswerQuota),
                    [](DatapathFixture& datapath) { datapath.beatStale(); }),
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}},
       .check = notHeldFor(identity, kAnswerQuota, 0)},
      {.description = "a TCP segment is dropped while its workload holds its share",
       .packet = segment,
       .setup = all(
           quota,
           [=](DatapathFixture& datapath) {
             datapath.putQuery(DatapathFixture::tcpConnectionKey(client, kAnswerPort),
                               datapathNowNs(), {}, identity);
           },
           ringHeld(identity, kAnswerQuota)),
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_over_quota", 1}},
       .check = notHeldFor(identity, kAnswerQuota)},
  };
  for (PacketCase& packet_case : cases) packet_case.network = l.network;
  return cases;
}

class HostAnswerQuotaTest : public AttackTest {};
TEST_P(HostAnswerQuotaTest, Verdict) { runCase(Program::kUplinkIngress); }
INSTANTIATE_TEST_SUITE_P(Attack, HostAnswerQuotaTest,
                         ::testing::ValuesIn(forBothFamilies(+[](const Lab& l) {
                           return answerQuotaCases(l, l.network->host, SKOUTER_HOST_IDENTITY,
                                                   kPodA);
                         })),
                         caseName);

class PodAnswerQuotaTest : public AttackTest {
 protected:
  void SetUp() override {
    AttackTest::SetUp();
    if (HasFatalFailure()) return;
    addIdentity(labOf(*GetParam().network).pod_a, kPodA);
  }
};
TEST_P(PodAnswerQuotaTest, Verdict) { runCase(Program::kPodEgress); }
INSTANTIATE_TEST_SUITE_P(Attack, PodAnswerQuotaTest,
                         ::testing::ValuesIn(forBothFamilies(+[](const Lab& l) {
                           return answerQuotaCases(l, l.pod_a, kPodA, kPodB);
                         })),
                         caseName);

// The attack itself: pod A's resolver sends the largest segments a test can make, as
// fast as the programs take them, while the daemon reads nothing. The ring takes pod
// A's share and no more, the host's answer is still held, and once the daemon has read
// the ring (counting what it read, as skouterd does), pod A's answers are held again.
class AnswerRingFloodTest : public DatapathFixture {};

TEST_F(AnswerRingFloodTest, OneWorkloadFillsOnlyItsShareAndTheOthersAnswersAreStillHeld) {
  const Lab& l = ipv4Lab();
  const TestNetwork& n = *l.network;
  installPolicy(n);
  addIdentity(l.pod_a, kPodA);
  const std::uint64_t quota = datapath().ringFill(Datapath::Ring::kAnswers).size_bytes / 4;
  setAnswerQuotaBytes(static_cast<std::uint32_t>(quota));
  putQuery(tcpConnectionKey(l.pod_a, kAnswerPort), datapathNowNs(), {}, kPodA);
  const Bytes header = PacketBuilder(n.resolver, l.pod_a)
                           .tcp(kDnsPort, kAnswerPort, kTcpPsh | kTcpAck, {})
                           .build()
                           .frame;
  const Packet flood = PacketBuilder(n.resolver, l.pod_a)
                           .tcp(kDnsPort, kAnswerPort, kTcpPsh | kTcpAck,
                                Bytes(largestTestRunFrame() - header.size(), 0x5a))
                           .build();
  const auto refused = [&] {
    const Counters now = counters(SKOUTER_HOOK_POD_EGRESS);
    return now.count("dns_answer_over_quota") + now.count("dns_answer_ringbuf_full");
  };
  std::uint64_t held = 0;
  for (int i = 0; i < 100000 && refused() == 0; ++i) {
    ASSERT_EQ(runPodEgress(flood), Verdict::kDrop);
    held = counters(SKOUTER_HOOK_POD_EGRESS)["dns_tcp_segment_held"];
  }
  EXPECT_EQ(counters(SKOUTER_HOOK_POD_EGRESS),
            (Counters{{"dns_tcp_segment_held", held}, {"dns_answer_over_quota", 1}}));
  EXPECT_LE(held * ringFootprint(flood), quota);
  EXPECT_GT((held + 1) * ringFootprint(flood), quota);
  EXPECT_EQ(puntedBytes(*this, kPodA), held * ringFootprint(flood));

  putQuery(queryKey(n.host, kAnswerPort, kDnsId), datapathNowNs());
  const Packet answer = PacketBuilder(n.resolver, n.host)
                            .udp(kDnsPort, kAnswerPort, dnsAnswer(kDnsId, "example.com", n.learned))
                            .build();
  const HookCounters before = counters();
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  EXPECT_EQ(countersMoved(before, counters()),
            (HookCounters{{"uplink_ingress", {{"dns_answer_punted", 1}}}}));

  maps::AnswerRingQuota ring_quota(datapath().answerBytesPunted(),
                                   datapath().answerBytesConsumed());
  for (const PuntedAnswer& record : drainAnswers()) {
    Bytes bytes(sizeof(record.header));
    std::memcpy(bytes.data(), &record.header, sizeof(record.header));
    bytes.insert(bytes.end(), record.frame.begin(), record.frame.end());
    ring_quota.consumed({bytes});
  }
  EXPECT_EQ(ring_quota.heldBytes(kPodA), 0u);
  EXPECT_EQ(ring_quota.heldBytes(SKOUTER_HOST_IDENTITY), 0u);
  const Counters before_retry = counters(SKOUTER_HOOK_POD_EGRESS);
  EXPECT_EQ(runPodEgress(flood), Verdict::kDrop);
  EXPECT_EQ(countersMoved(before_retry, counters(SKOUTER_HOOK_POD_EGRESS)),
            (Counters{{"dns_tcp_segment_held", 1}}));
  EXPECT_EQ(ring_quota.heldBytes(kPodA), ringFootprint(flood));
}

}  // namespace
}  // namespace skouter::bpftest
