// uplink_egress: the port restrictions of allowed addresses and CIDRs (port_sets).
// An address that is allowed opens only the destination ports of its port set; other
// ports and protocols are dropped and counted as egress_port_denied as well.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kEchoId = 0x4242;
constexpr std::uint16_t kDiameterPort = 3868;  // SCTP

constexpr std::uint32_t kPolicedAndAudited = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT;

// Port sets of the cases, put in port_sets by putPortSets().
constexpr std::uint32_t kEveryPort = 0;
constexpr std::uint32_t kHttpsOnly = 1;     // 443/TCP
constexpr std::uint32_t kTcpRange = 2;      // 8000-8080/TCP
constexpr std::uint32_t kUdpRange = 3;      // 5000-5010/UDP
constexpr std::uint32_t kSctpOnly = 4;      // 3868/SCTP
constexpr std::uint32_t kMixed = 5;         // 22/TCP, 443/TCP, 5000-5010/UDP, 3868/SCTP
constexpr std::uint32_t kHttpOnly = 6;      // 80/TCP
constexpr std::uint32_t kEmpty = 7;         // an entry with no range
constexpr std::uint32_t kCountOne = 8;      // 443/TCP in use, 80/TCP beyond the count
constexpr std::uint32_t kFull = 9;          // SKOUTER_MAX_PORT_RANGES ranges, the last 9999/TCP
constexpr std::uint32_t kUnknown = 0xdead;  // no entry in port_sets

void putPortSets(DatapathFixture& datapath) {
  datapath.putPortSet(kHttpsOnly, {portRange(IPPROTO_TCP, 443, 443)});
  datapath.putPortSet(kTcpRange, {portRange(IPPROTO_TCP, 8000, 8080)});
  datapath.putPortSet(kUdpRange, {portRange(IPPROTO_UDP, 5000, 5010)});
  datapath.putPortSet(kSctpOnly, {portRange(IPPROTO_SCTP, kDiameterPort, kDiameterPort)});
  datapath.putPortSet(kMixed, {portRange(IPPROTO_TCP, 22, 22), portRange(IPPROTO_TCP, 443, 443),
                               portRange(IPPROTO_UDP, 5000, 5010),
                               portRange(IPPROTO_SCTP, kDiameterPort, kDiameterPort)});
  datapath.putPortSet(kHttpOnly, {portRange(IPPROTO_TCP, 80, 80)});
  datapath.putPortSet(kEmpty, {});
  // count says one range; what lies beyond it must not count.
  skouter_port_set one{};
  one.count = 1;
  one.ranges[0] = portRange(IPPROTO_TCP, 443, 443);
  one.ranges[1] = portRange(IPPROTO_TCP, 80, 80);
  ASSERT_EQ(datapath.datapath().portSets().update(kCountOne, one), 0);
  std::vector<skouter_port_range> full;
  for (std::uint16_t i = 0; i + 1 < SKOUTER_MAX_PORT_RANGES; ++i) {
    full.push_back(portRange(IPPROTO_UDP, 100 + i, 100 + i));
  }
  full.push_back(portRange(IPPROTO_TCP, 9999, 9999));
  datapath.putPortSet(kFull, full);
}

// Where the restricted address comes from: a DNS answer or a static rule.
struct Target {
  std::string name;  // as descriptions show it
  std::function<const IpAddress&(const TestNetwork&)> address;
  // Gives the address `port_set` (and puts every port set of the cases in place).
  std::function<void(DatapathFixture&, const TestNetwork&, std::uint32_t)> restrict;
  std::string allowed_counter;
};

const Target& learnedTarget() {
  static const Target target{
      .name = "learned",
      .address = [](const TestNetwork& n) -> const IpAddress& { return n.learned; },
      .restrict =
          [](DatapathFixture& datapath, const TestNetwork& n, std::uint32_t port_set) {
            putPortSets(datapath);
            datapath.allowIp(n.learned, datapathNowNs() + 3600 * kNanosPerSecond, port_set);
          },
      .allowed_counter = "egress_allowed_learned",
  };
  return target;
}

// A CIDR rather than a single address: the LPM lookup finds the entry's port set.
const Target& staticTarget() {
  static const Target target{
      .name = "CIDR",
      .address = [](const TestNetwork& n) -> const IpAddress& { return n.in_cidr; },
      .restrict =
          [](DatapathFixture& datapath, const TestNetwork& n, std::uint32_t port_set) {
            putPortSets(datapath);
            datapath.allowPrefix(n.cidr, port_set);
          },
      .allowed_counter = "egress_allowed_static",
  };
  return target;
}

PacketBuilder fromHost(const TestNetwork& network, const IpAddress& destination) {
  return PacketBuilder(network.host, destination);
}

Bytes fragmentBytes() { return Bytes(64, 0xab); }

auto expectNoFlows() { return expectFlows({}); }

auto expectOutboundFlow(const TestNetwork& network, std::uint8_t protocol, const IpAddress& remote,
                        std::uint16_t port) {
  return expectFlows(
      {flowDescription(protocol, network.host, kHostPort, remote, port, SKOUTER_FLOW_OUTBOUND)});
}

const Counters kPortDenied = {{"egress_port_denied", 1}, {"egress_denied", 1}};

std::vector<PacketCase> casesFor(const TestNetwork& n, const Target& t) {
  const IpAddress& a = t.address(n);
  const auto restricted = [&t, &n](std::uint32_t port_set) {
    return [&t, &n, port_set](DatapathFixture& datapath) { t.restrict(datapath, n, port_set); };
  };
  const auto syn = [&](std::uint16_t port) {
    return fromHost(n, a).tcp(kHostPort, port, kTcpSyn).build();
  };
  const auto udp = [&](std::uint16_t port) {
    return fromHost(n, a).udp(kHostPort, port, Bytes(16, 0x11)).build();
  };
  const auto sctp = [&](std::uint16_t port) {
    return fromHost(n, a).sctp(kHostPort, port).build();
  };
  const Counters allowed = {{t.allowed_counter, 1}};
  const std::string in = t.name + " address with ";

  std::vector<PacketCase> cases = {
      {.description = in + "443 TCP passes a SYN to 443",
       .packet = syn(443),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectOutboundFlow(n, IPPROTO_TCP, a, 443)},
      {.description = in + "443 TCP drops a SYN to 80",
       .packet = syn(80),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      {.description = in + "443 TCP drops UDP to 443",
       .packet = udp(443),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      {.description = in + "443 TCP drops SCTP to 443",
       .packet = sctp(443),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "443 TCP drops an echo request",
       .packet = fromHost(n, a).echoRequest(kEchoId).build(),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},

      // Ranges are inclusive at both ends.
      {.description = in + "8000-8080 TCP passes a SYN to 8000",
       .packet = syn(8000),
       .setup = restricted(kTcpRange),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectOutboundFlow(n, IPPROTO_TCP, a, 8000)},
      {.description = in + "8000-8080 TCP passes a SYN to 8080",
       .packet = syn(8080),
       .setup = restricted(kTcpRange),
       .verdict = Verdict::kPass,
       .moved = allowed},
      {.description = in + "8000-8080 TCP drops a SYN to 7999",
       .packet = syn(7999),
       .setup = restricted(kTcpRange),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "8000-8080 TCP drops a SYN to 8081",
       .packet = syn(8081),
       .setup = restricted(kTcpRange),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},

      {.description = in + "5000-5010 UDP passes UDP to 5005",
       .packet = udp(5005),
       .setup = restricted(kUdpRange),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectOutboundFlow(n, IPPROTO_UDP, a, 5005)},
      {.description = in + "5000-5010 UDP drops UDP to 5011",
       .packet = udp(5011),
       .setup = restricted(kUdpRange),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "5000-5010 UDP drops a SYN to 5005",
       .packet = syn(5005),
       .setup = restricted(kUdpRange),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},

      {.description = in + "3868 SCTP passes SCTP to 3868",
       .packet = sctp(kDiameterPort),
       .setup = restricted(kSctpOnly),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectOutboundFlow(n, IPPROTO_SCTP, a, kDiameterPort)},
      {.description = in + "3868 SCTP drops SCTP to 3869",
       .packet = sctp(kDiameterPort + 1),
       .setup = restricted(kSctpOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      {.description = in + "3868 SCTP drops a SYN to 3868",
       .packet = syn(kDiameterPort),
       .setup = restricted(kSctpOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},

      // Several ranges of several protocols: each is looked at.
      {.description = in + "mixed ranges passes a SYN to 22",
       .packet = syn(22),
       .setup = restricted(kMixed),
       .verdict = Verdict::kPass,
       .moved = allowed},
      {.description = in + "mixed ranges passes UDP to 5010",
       .packet = udp(5010),
       .setup = restricted(kMixed),
       .verdict = Verdict::kPass,
       .moved = allowed},
      {.description = in + "mixed ranges passes SCTP to 3868",
       .packet = sctp(kDiameterPort),
       .setup = restricted(kMixed),
       .verdict = Verdict::kPass,
       .moved = allowed},
      {.description = in + "mixed ranges drops a SYN to 23",
       .packet = syn(23),
       .setup = restricted(kMixed),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "the last of the most ranges a set holds passes a SYN to 9999",
       .packet = syn(9999),
       .setup = restricted(kFull),
       .verdict = Verdict::kPass,
       .moved = allowed},
      {.description = in + "the most ranges a set holds drops a SYN to 9998",
       .packet = syn(9998),
       .setup = restricted(kFull),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "a range beyond the set's count drops a SYN to it",
       .packet = syn(80),
       .setup = restricted(kCountOne),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      // Fail closed: a set that says nothing opens nothing.
      {.description = in + "an unknown port set drops a SYN",
       .packet = syn(443),
       .setup = restricted(kUnknown),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      {.description = in + "an unknown port set drops a later fragment",
       .packet =
           fromHost(n, a).fragment(1480, false).fragmentData(IPPROTO_TCP, fragmentBytes()).build(),
       .setup = restricted(kUnknown),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "an empty port set entry drops a SYN",
       .packet = syn(443),
       .setup = restricted(kEmpty),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "port set 0 passes a SYN to any port",
       .packet = syn(1),
       .setup = restricted(kEveryPort),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectOutboundFlow(n, IPPROTO_TCP, a, 1)},
      {.description = in + "port set 0 passes an echo request",
       .packet = fromHost(n, a).echoRequest(kEchoId).build(),
       .setup = restricted(kEveryPort),
       .verdict = Verdict::kPass,
       .moved = allowed},

      // A later fragment has no ports: its protocol alone is checked, the first
      // fragment having been judged with its ports.
      {.description = in + "5000-5010 UDP passes a later UDP fragment",
       .packet =
           fromHost(n, a).fragment(1480, false).fragmentData(IPPROTO_UDP, fragmentBytes()).build(),
       .setup = restricted(kUdpRange),
       .verdict = Verdict::kPass,
       .moved = allowed,
       .check = expectNoFlows()},
      {.description = in + "443 TCP drops a later UDP fragment",
       .packet =
           fromHost(n, a).fragment(1480, true).fragmentData(IPPROTO_UDP, fragmentBytes()).build(),
       .setup = restricted(kHttpsOnly),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied},
      {.description = in + "5000-5010 UDP drops a first fragment to 6000",
       .packet = fromHost(n, a).fragment(0, true).udp(kHostPort, 6000, Bytes(32, 0xcd)).build(),
       .setup = restricted(kUdpRange),
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      // Audit: the wrong port is counted, and the packet passes as an audited flow.
      {.description = in + "443 TCP in audit mode passes a SYN to 80 as audited",
       .packet = syn(80),
       .setup =
           [=](DatapathFixture& datapath) {
             restricted(kHttpsOnly)(datapath);
             datapath.setFlags(kPolicedAndAudited);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_port_denied", 1}, {"egress_audited", 1}},
       .check = expectFlows(
           {flowDescription(IPPROTO_TCP, n.host, kHostPort, a, 80, SKOUTER_FLOW_AUDITED)})},
  };
  return cases;
}

// Cases where the learned and the static tables both know the address: it opens the
// ports either of them allows.
std::vector<PacketCase> unionCasesFor(const TestNetwork& n) {
  const std::uint64_t hour = 3600 * kNanosPerSecond;
  // static_ip is a single-address prefix with every port; here it opens 80/TCP only,
  // and an answer opened 443/TCP on it.
  const auto learned_https_static_http = [&n, hour](DatapathFixture& datapath) {
    putPortSets(datapath);
    datapath.allowPrefix(n.static_prefix, kHttpOnly);
    datapath.allowIp(n.static_ip, datapathNowNs() + hour, kHttpsOnly);
  };
  const auto syn = [&n](const IpAddress& to, std::uint16_t port) {
    return fromHost(n, to).tcp(kHostPort, port, kTcpSyn).build();
  };
  return {
      {.description = "learned wrong port that the static rule allows passes",
       .packet = syn(n.static_ip, 80),
       .setup = learned_https_static_http,
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_static", 1}},
       .check = expectOutboundFlow(n, IPPROTO_TCP, n.static_ip, 80)},
      {.description = "static wrong port that the learned entry allows passes",
       .packet = syn(n.static_ip, 443),
       .setup = learned_https_static_http,
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectOutboundFlow(n, IPPROTO_TCP, n.static_ip, 443)},
      {.description = "port neither the learned entry nor the static rule allows is dropped once",
       .packet = syn(n.static_ip, 22),
       .setup = learned_https_static_http,
       .verdict = Verdict::kDrop,
       .moved = kPortDenied,
       .check = expectNoFlows()},
      {.description = "learned wrong port inside a CIDR of every port passes",
       .packet = syn(n.in_cidr, 80),
       .setup =
           [&n, hour](DatapathFixture& datapath) {
             putPortSets(datapath);
             datapath.allowIp(n.in_cidr, datapathNowNs() + hour, kHttpsOnly);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_static", 1}}},
      // An expired answer opens nothing, whatever its ports.
      {.description = "expired learned port behind a static rule of another port is dropped",
       .packet = syn(n.static_ip, 443),
       .setup =
           [&n](DatapathFixture& datapath) {
             putPortSets(datapath);
             datapath.allowPrefix(n.static_prefix, kHttpOnly);
             datapath.allowIp(n.static_ip, datapathNowNs() - kNanosPerSecond, kHttpsOnly);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_expired", 1}, {"egress_port_denied", 1}, {"egress_denied", 1}}},
      // A flow opened on an allowed port keeps passing after the port set changes, as
      // it does after the address expires.
      {.description = "established flow passes after its port was taken away",
       .packet = fromHost(n, n.learned).tcp(kHostPort, 443, kTcpAck).build(),
       .setup =
           [&n, hour](DatapathFixture& datapath) {
             putPortSets(datapath);
             datapath.allowIp(n.learned, datapathNowNs() + hour, kHttpOnly);
             datapath.putFlow(
                 DatapathFixture::flowKey(IPPROTO_TCP, n.host, kHostPort, n.learned, 443),
                 SKOUTER_FLOW_OUTBOUND, datapathNowNs());
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}}},
  };
}

// A static entry's port set goes through the same port_allowed() as a learned one's,
// and every case loads a datapath of its own (a third of a second): for CIDRs, the
// cases showing that the LPM value's set is the one applied suffice.
std::vector<PacketCase> staticCasesFor(const TestNetwork& n) {
  static const std::vector<std::string> kEnough = {
      "443 TCP passes a SYN to 443",
      "443 TCP drops a SYN to 80",
      "an unknown port set drops a SYN",
      "port set 0 passes a SYN to any port",
      "5000-5010 UDP passes a later UDP fragment",
      "443 TCP drops a later UDP fragment",
  };
  std::vector<PacketCase> cases = casesFor(n, staticTarget());
  std::erase_if(cases, [](const PacketCase& packet_case) {
    return std::none_of(kEnough.begin(), kEnough.end(), [&](const std::string& enough) {
      return packet_case.description.ends_with(enough);
    });
  });
  return cases;
}

std::vector<PacketCase> allCases() {
  std::vector<PacketCase> cases;
  for (const TestNetwork* network : {&ipv4Network(), &ipv6Network()}) {
    std::vector<std::vector<PacketCase>> parts = {
        casesFor(*network, learnedTarget()), staticCasesFor(*network), unionCasesFor(*network)};
    for (auto& part : parts) {
      for (PacketCase& packet_case : part) {
        packet_case.network = network;
        cases.push_back(std::move(packet_case));
      }
    }
  }
  return cases;
}

class UplinkEgressPortsTest : public PacketCaseTest {};

TEST_P(UplinkEgressPortsTest, Verdict) { runCase(Program::kUplinkEgress); }

INSTANTIATE_TEST_SUITE_P(Table, UplinkEgressPortsTest, ::testing::ValuesIn(allCases()), caseName);

}  // namespace
}  // namespace skouter::bpftest
