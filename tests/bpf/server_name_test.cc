// Server names checked on shared addresses (bpf/lib/server_name.h), at uplink_egress
// for the host and at pod_ingress for a pod: a new TCP or UDP flow to an address a
// checked rule learned, on a checked port, is opened pending. Its handshake passes;
// its data is copied to the answers ring for the daemon (which reads the ClientHello
// or QUIC Initial) and dropped, until the daemon settles the flow; while the daemon is
// away it passes unchecked.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <tuple>
#include <vector>

#include "bpf/maps/bpf_address.h"
#include "bpf/maps/flow_table.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint16_t kClientPort = 40000;
constexpr std::uint16_t kHttps = 443;
constexpr std::uint16_t kHttp = 80;
// The rule whose learned addresses are checked, and one whose are not.
constexpr std::uint32_t kCheckedRule = 0x51;
constexpr std::uint32_t kUncheckedRule = 0x52;
constexpr std::uint32_t kTlsPorts = 0x443;  // port set: 443/TCP and 443/UDP
constexpr std::uint32_t kAnswerQuota = 16 * 1024;

enum class Workload { kHost, kPod };

// Bytes standing for a TLS ClientHello naming `name`: a handshake record header, then
// the name. The programs never read what they hold, so it need not parse.
Bytes clientHello(const std::string& name) {
  const auto length = static_cast<std::uint8_t>(name.size());
  Bytes hello = {0x16, 0x03, 0x01, 0x00,  static_cast<std::uint8_t>(length + 4),
                 0x01, 0x00, 0x00, length};
  for (const char c : name) hello.push_back(static_cast<std::uint8_t>(c));
  return hello;
}

// Bytes standing for a QUIC Initial: a long header with the v1 version, then padding.
Bytes quicInitial() {
  Bytes initial = {0xc0, 0x00, 0x00, 0x00, 0x01};
  initial.resize(1200, 0);
  return initial;
}

// What one packet came to: the program's verdict, the counters it moved (of every
// hook), and the records it put in the answers ring.
struct Outcome {
  Verdict verdict;
  HookCounters moved;
  std::vector<PuntedAnswer> held;
};

using Param = std::tuple<const TestNetwork*, Workload>;

class ServerNameTest : public DatapathFixture, public ::testing::WithParamInterface<Param> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    if (HasFatalFailure()) return;
    if (workload() == Workload::kPod) addIdentity(client(), kPod);
    putPortSet(kTlsPorts,
               {portRange(IPPROTO_TCP, kHttps, kHttps), portRange(IPPROTO_UDP, kHttps, kHttps)});
    ASSERT_EQ(datapath().serverNameRules().update(kCheckedRule, {.port_set = kTlsPorts}), 0);
    allowLearned(n().learned, kCheckedRule);
  }

  const TestNetwork& n() const { return *std::get<0>(GetParam()); }
  Workload workload() const { return std::get<1>(GetParam()); }
  bool v4() const { return n().host.family == IpFamily::kV4; }
  std::uint32_t identity() const {
    return workload() == Workload::kPod ? kPod : SKOUTER_HOST_IDENTITY;
  }
  // The workload's address: the host's, or a pod's beside it.
  IpAddress client() const {
    if (workload() == Workload::kHost) return n().host;
    return *IpAddress::parse(v4() ? "192.0.2.70" : "2001:db8::70");
  }
  // An address a rule that is not checked learned.
  IpAddress uncheckedSite() const {
    return *IpAddress::parse(v4() ? "198.51.100.30" : "2001:db8:1::30");
  }
  std::string hook() const {
    return workload() == Workload::kPod ? "pod_ingress" : "uplink_egress";
  }
  std::uint32_t heldDestination() const {
    return workload() == Workload::kPod ? SKOUTER_HELLO_FROM_POD : SKOUTER_HELLO_FROM_HOST;
  }

  // `address` as a DNS answer to the workload installs it: learned by `rule`, valid
  // for an hour, on every port.
  void allowLearned(const IpAddress& address, std::uint32_t rule) {
    const skouter_allowed_ip_key key{.identity = identity(), .ip = maps::toBpfAddr(address)};
    skouter_allowed_ip_value value{};
    value.expiry_ns = datapathNowNs() + 3600 * kNanosPerSecond;
    value.rule_id = rule;
    ASSERT_EQ(datapath().allowedIps().update(key, value), 0);
  }
  // `prefix` allowed to the workload by a static rule, numbered as a checked rule.
  void allowStatic(const std::string& prefix) {
    const IpPrefix parsed = IpPrefix::parse(prefix).value();
    skouter_cidr_key key{};
    key.prefixlen = SKOUTER_CIDR_FIXED_BITS + parsed.length;
    key.identity = identity();
    maps::putBpfAddr(key, parsed.address);
    ASSERT_EQ(datapath().allowedCidrs().update(key, {.rule_id = kCheckedRule, .port_set = 0}), 0);
  }

  Packet tcp(std::uint8_t flags, Bytes payload = {}, std::uint16_t port = kHttps) const {
    return tcpTo(n().learned, flags, std::move(payload), port);
  }
  Packet tcpTo(const IpAddress& to, std::uint8_t flags, Bytes payload = {},
               std::uint16_t port = kHttps) const {
    return PacketBuilder(client(), to).tcp(kClientPort, port, flags, std::move(payload)).build();
  }
  Packet hello(const std::string& name = "www.example.com") const {
    return tcp(kTcpPsh | kTcpAck, clientHello(name));
  }
  Packet datagram(std::uint16_t port = kHttps) const {
    return PacketBuilder(client(), n().learned).udp(kClientPort, port, quicInitial()).build();
  }

  skouter_flow_key flowTo(std::uint8_t protocol, const IpAddress& remote,
                          std::uint16_t port = kHttps) const {
    return flowKey(protocol, client(), kClientPort, remote, port, identity());
  }
  std::string flow(std::uint8_t protocol, const IpAddress& remote, skouter_flow_origin origin,
                   std::uint16_t port = kHttps) const {
    return flowDescription(protocol, client(), kClientPort, remote, port, origin, identity());
  }
  std::string tlsFlow(skouter_flow_origin origin) const {
    return flow(IPPROTO_TCP, n().learned, origin);
  }

  // Runs `packet` through the workload's program.
  Outcome send(const Packet& packet) {
    const HookCounters before = counters();
    const Verdict verdict =
        workload() == Workload::kPod ? runPodIngress(packet) : runUplinkEgress(packet);
    return {verdict, countersMoved(before, counters()), drainAnswers()};
  }
  // `counted` under the workload's hook, nothing under another.
  HookCounters at(Counters counted) const {
    if (counted.empty()) return {};
    return {{hook(), std::move(counted)}};
  }

  // `held` is `packet` alone, held for the daemon as the workload's, to be sent on
  // where it was going.
  void expectHeld(const std::vector<PuntedAnswer>& held, const Packet& packet,
                  std::uint8_t protocol) const {
    ASSERT_EQ(held.size(), 1u);
    const skouter_answer_header& header = held[0].header;
    EXPECT_EQ(header.destination, heldDestination());
    EXPECT_EQ(header.identity, identity());
    EXPECT_EQ(header.ifindex, kLoopbackIfindex);
    EXPECT_EQ(header.protocol, protocol);
    EXPECT_EQ(header.l3_offset, packet.l3_offset);
    EXPECT_EQ(header.l4_offset, packet.l4_offset);
    EXPECT_EQ(header.frame_len, packet.frame.size());
    EXPECT_EQ(held[0].frame, packet.frame);
    expectStampedDuringTest(header.received_ns);
  }

  // A connection to the checked address whose SYN opened it pending.
  void connect() {
    const Outcome syn = send(tcp(kTcpSyn));
    ASSERT_EQ(syn.verdict, Verdict::kPass);
    ASSERT_EQ(syn.moved, at({{"egress_allowed_learned", 1}}));
    ASSERT_TRUE(syn.held.empty());
    ASSERT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});
  }
  // The daemon's verdict on the server name of the flow to the checked address.
  void settle(std::uint8_t protocol, skouter_flow_origin origin) {
    maps::FlowTable table(datapath());
    ASSERT_TRUE(table.settle(flowTo(protocol, n().learned), origin, datapathNowNs()));
  }
};

TEST_P(ServerNameTest, TheFirstDataOfATlsConnectionIsHeldItsHandshakePasses) {
  ASSERT_NO_FATAL_FAILURE(connect());

  const Packet first = hello();
  const Outcome data = send(first);
  EXPECT_EQ(data.verdict, Verdict::kDrop);
  EXPECT_EQ(data.moved, at({{"server_name_held", 1}}));
  expectHeld(data.held, first, IPPROTO_TCP);

  // Segments that carry no data name nothing: they pass, and the flow stays pending.
  const Bytes timestamp = tcpTimestampOptions();
  for (const Packet& empty : {
           tcp(kTcpAck),
           PacketBuilder(client(), n().learned)
               .tcp(kClientPort, kHttps, kTcpAck, {}, timestamp)
               .build(),
           // Ethernet pads a short frame: the padding is no data.
           PacketBuilder(client(), n().learned)
               .tcp(kClientPort, kHttps, kTcpAck)
               .ethernetPadding(6)
               .build(),
           tcp(kTcpFin | kTcpAck),
           tcp(kTcpRst),
       }) {
    const Outcome passed = send(empty);
    EXPECT_EQ(passed.verdict, Verdict::kPass);
    EXPECT_EQ(passed.moved, HookCounters{});
    EXPECT_TRUE(passed.held.empty());
  }
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});

  // Until the daemon has settled the flow, every segment with data is held: the
  // retransmission, and the rest of a ClientHello longer than one segment (for the
  // daemon to reassemble).
  for (const Packet& more : {first, tcp(kTcpPsh | kTcpAck, Bytes(600, 0x2c))}) {
    const Outcome again = send(more);
    EXPECT_EQ(again.verdict, Verdict::kDrop);
    EXPECT_EQ(again.moved, at({{"server_name_held", 1}}));
    expectHeld(again.held, more, IPPROTO_TCP);
  }
}

TEST_P(ServerNameTest, EveryDatagramOfAPendingUdpFlowIsHeld) {
  const Packet initial = datagram();
  const Outcome first = send(initial);
  EXPECT_EQ(first.verdict, Verdict::kDrop);
  EXPECT_EQ(first.moved, at({{"egress_allowed_learned", 1}, {"server_name_held", 1}}));
  expectHeld(first.held, initial, IPPROTO_UDP);
  EXPECT_EQ(flowDescriptions(),
            Descriptions{flow(IPPROTO_UDP, n().learned, SKOUTER_FLOW_SERVER_NAME_PENDING)});

  // QUIC repeats its Initial, and may spread its ClientHello over several.
  const Outcome second = send(initial);
  EXPECT_EQ(second.verdict, Verdict::kDrop);
  EXPECT_EQ(second.moved, at({{"server_name_held", 1}}));
  expectHeld(second.held, initial, IPPROTO_UDP);

  ASSERT_NO_FATAL_FAILURE(settle(IPPROTO_UDP, SKOUTER_FLOW_OUTBOUND));
  const Outcome allowed = send(initial);
  EXPECT_EQ(allowed.verdict, Verdict::kPass);
  EXPECT_EQ(allowed.moved, at({{"egress_allowed_flow", 1}}));
  EXPECT_TRUE(allowed.held.empty());
}

// On the way out of the host, a drop is an error the sending socket sees, and TCP
// would resend the held ClientHello a retransmission timeout later: with a sink, the
// held data goes there instead, which the socket takes for sent. A pod's is held on
// its way in from the pod, where a drop is seen by nobody.
TEST_P(ServerNameTest, TheHostsHeldDataGoesToTheSinkAPodsIsDropped) {
  setHeldSink(42);
  ASSERT_NO_FATAL_FAILURE(connect());
  const Packet first = hello();
  const Outcome data = send(first);
  EXPECT_EQ(data.verdict, workload() == Workload::kPod ? Verdict::kDrop : Verdict::kRedirect);
  EXPECT_EQ(data.moved, at({{"server_name_held", 1}}));
  expectHeld(data.held, first, IPPROTO_TCP);
}

TEST_P(ServerNameTest, AFlowSettledOutboundCarriesItsDataUnheld) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_EQ(send(hello()).verdict, Verdict::kDrop);
  ASSERT_NO_FATAL_FAILURE(settle(IPPROTO_TCP, SKOUTER_FLOW_OUTBOUND));

  for (const Packet& packet : {hello(), tcp(kTcpPsh | kTcpAck, Bytes(100, 0x17)), tcp(kTcpAck)}) {
    const Outcome passed = send(packet);
    EXPECT_EQ(passed.verdict, Verdict::kPass);
    EXPECT_EQ(passed.moved, at({{"egress_allowed_flow", 1}}));
    EXPECT_TRUE(passed.held.empty());
  }
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_OUTBOUND)});
}

// The attack: a connection naming an allowed site, closed, then a new one from the
// same local port naming another site. The old connection's flow must not carry it.
TEST_P(ServerNameTest, ANewConnectionFromThePortsOfAnAllowedOneIsCheckedAnew) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_EQ(send(hello()).moved, at({{"server_name_held", 1}}));
  ASSERT_NO_FATAL_FAILURE(settle(IPPROTO_TCP, SKOUTER_FLOW_OUTBOUND));
  ASSERT_EQ(send(hello()).verdict, Verdict::kPass);

  ASSERT_NO_FATAL_FAILURE(connect());
  const Packet other = hello("blocked.example.net");
  const Outcome data = send(other);
  EXPECT_EQ(data.verdict, Verdict::kDrop);
  EXPECT_EQ(data.moved, at({{"server_name_held", 1}}));
  expectHeld(data.held, other, IPPROTO_TCP);
}

TEST_P(ServerNameTest, AFlowSettledDeniedDropsEveryPacketUnheld) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_EQ(send(hello("blocked.example.net")).verdict, Verdict::kDrop);
  ASSERT_NO_FATAL_FAILURE(settle(IPPROTO_TCP, SKOUTER_FLOW_SERVER_NAME_DENIED));

  // The retransmitted ClientHello, and what carries no data, are dropped alike.
  for (const Packet& packet :
       {hello("blocked.example.net"), tcp(kTcpAck), tcp(kTcpFin | kTcpAck), tcp(kTcpRst)}) {
    const Outcome dropped = send(packet);
    EXPECT_EQ(dropped.verdict, Verdict::kDrop);
    EXPECT_EQ(dropped.moved, at({{"server_name_denied", 1}}));
    EXPECT_TRUE(dropped.held.empty());
  }
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_DENIED)});

  // A new connection from the same port is checked anew, not refused for good: its
  // SYN passes, its ClientHello is held.
  const Outcome syn = send(tcp(kTcpSyn));
  EXPECT_EQ(syn.verdict, Verdict::kPass);
  EXPECT_EQ(syn.moved, at({{"egress_allowed_learned", 1}}));
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});
  const Outcome retry = send(hello());
  EXPECT_EQ(retry.verdict, Verdict::kDrop);
  EXPECT_EQ(retry.moved, at({{"server_name_held", 1}}));
}

TEST_P(ServerNameTest, WhileTheDaemonIsAwayDataOnAPendingFlowPassesUnchecked) {
  ASSERT_NO_FATAL_FAILURE(connect());
  beatStale();

  const Outcome data = send(hello());
  EXPECT_EQ(data.verdict, Verdict::kPass);
  EXPECT_EQ(data.moved, at({{"server_name_unchecked", 1}}));
  EXPECT_TRUE(data.held.empty());
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_OUTBOUND)});

  // The daemon back, the flow it never saw stays open.
  beatNow();
  const Outcome later = send(tcp(kTcpPsh | kTcpAck, Bytes(100, 0x17)));
  EXPECT_EQ(later.verdict, Verdict::kPass);
  EXPECT_EQ(later.moved, at({{"egress_allowed_flow", 1}}));
  EXPECT_TRUE(later.held.empty());
}

TEST_P(ServerNameTest, APortTheRuleDoesNotCheckIsNotHeld) {
  const Outcome syn = send(tcp(kTcpSyn, {}, kHttp));
  EXPECT_EQ(syn.verdict, Verdict::kPass);
  EXPECT_EQ(syn.moved, at({{"egress_allowed_learned", 1}}));
  const Outcome data = send(tcp(kTcpPsh | kTcpAck, Bytes(100, 0x47), kHttp));
  EXPECT_EQ(data.verdict, Verdict::kPass);
  EXPECT_EQ(data.moved, at({{"egress_allowed_flow", 1}}));
  EXPECT_TRUE(data.held.empty());
  const Outcome udp = send(datagram(kHttp));
  EXPECT_EQ(udp.verdict, Verdict::kPass);
  EXPECT_EQ(udp.moved, at({{"egress_allowed_learned", 1}}));
  EXPECT_TRUE(udp.held.empty());
  EXPECT_EQ(flowDescriptions(),
            (Descriptions{flow(IPPROTO_TCP, n().learned, SKOUTER_FLOW_OUTBOUND, kHttp),
                          flow(IPPROTO_UDP, n().learned, SKOUTER_FLOW_OUTBOUND, kHttp)}));
}

TEST_P(ServerNameTest, AnAddressOnlyAStaticRuleAllowsIsNotHeld) {
  // Its rule is numbered as a checked one: a static address has no name to check.
  ASSERT_NO_FATAL_FAILURE(allowStatic(n().cidr));
  const Outcome syn = send(tcpTo(n().in_cidr, kTcpSyn));
  EXPECT_EQ(syn.verdict, Verdict::kPass);
  EXPECT_EQ(syn.moved, at({{"egress_allowed_static", 1}}));
  const Outcome data = send(tcpTo(n().in_cidr, kTcpPsh | kTcpAck, clientHello("www.example.com")));
  EXPECT_EQ(data.verdict, Verdict::kPass);
  EXPECT_EQ(data.moved, at({{"egress_allowed_flow", 1}}));
  EXPECT_TRUE(data.held.empty());
  EXPECT_EQ(flowDescriptions(),
            Descriptions{flow(IPPROTO_TCP, n().in_cidr, SKOUTER_FLOW_OUTBOUND)});
}

TEST_P(ServerNameTest, AnAddressARuleNotCheckedLearnedIsNotHeld) {
  ASSERT_NO_FATAL_FAILURE(allowLearned(uncheckedSite(), kUncheckedRule));
  const Outcome syn = send(tcpTo(uncheckedSite(), kTcpSyn));
  EXPECT_EQ(syn.verdict, Verdict::kPass);
  EXPECT_EQ(syn.moved, at({{"egress_allowed_learned", 1}}));
  const Outcome data =
      send(tcpTo(uncheckedSite(), kTcpPsh | kTcpAck, clientHello("www.example.com")));
  EXPECT_EQ(data.verdict, Verdict::kPass);
  EXPECT_EQ(data.moved, at({{"egress_allowed_flow", 1}}));
  EXPECT_TRUE(data.held.empty());
  EXPECT_EQ(flowDescriptions(),
            Descriptions{flow(IPPROTO_TCP, uncheckedSite(), SKOUTER_FLOW_OUTBOUND)});
}

TEST_P(ServerNameTest, DataOfAConnectionWhoseSynWasNeverSeenIsHeld) {
  const Packet first = hello();
  const Outcome data = send(first);
  EXPECT_EQ(data.verdict, Verdict::kDrop);
  EXPECT_EQ(data.moved, at({{"egress_allowed_learned", 1}, {"server_name_held", 1}}));
  expectHeld(data.held, first, IPPROTO_TCP);
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});
}

// The attack: a connection whose ClientHello named an allowed site waits until its
// flow is idle past the timeout, then sends another ClientHello naming a site the
// address also serves (TLS allows no such thing, but a client of its own making
// may). The lost flow does not let it through unchecked.
TEST_P(ServerNameTest, AConnectionThatOutwaitsItsFlowIsCheckedAgain) {
  ASSERT_NO_FATAL_FAILURE(connect());
  ASSERT_EQ(send(hello("www.example.com")).verdict, Verdict::kDrop);
  ASSERT_NO_FATAL_FAILURE(settle(IPPROTO_TCP, SKOUTER_FLOW_OUTBOUND));
  ASSERT_EQ(send(tcp(kTcpPsh | kTcpAck, Bytes(100, 0x17))).verdict, Verdict::kPass);

  putFlow(flowTo(IPPROTO_TCP, n().learned), SKOUTER_FLOW_OUTBOUND,
          datapathNowNs() - kFlowIdleNs - kNanosPerSecond);
  const Packet other = hello("other-tenant.example.org");
  const Outcome data = send(other);
  EXPECT_EQ(data.verdict, Verdict::kDrop);
  EXPECT_EQ(data.moved, at({{"egress_allowed_learned", 1}, {"server_name_held", 1}}));
  expectHeld(data.held, other, IPPROTO_TCP);
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});
}

// The held data shares the answers ring, and each workload's quota of it, with the
// DNS answers: a workload that holds its share gets nothing more held, and its data
// is dropped (its retransmission may be held once the daemon has read the ring).
TEST_P(ServerNameTest, DataOverTheWorkloadsShareOfTheRingIsDropped) {
  ASSERT_NO_FATAL_FAILURE(connect());
  setAnswerQuotaBytes(kAnswerQuota);
  ASSERT_EQ(datapath().answerBytesPunted().update(identity(), {.bytes = kAnswerQuota}), 0);

  const Packet first = hello();
  const Outcome refused = send(first);
  EXPECT_EQ(refused.verdict, Verdict::kDrop);
  EXPECT_EQ(refused.moved, at({{"server_name_hold_failed", 1}}));
  EXPECT_TRUE(refused.held.empty());
  EXPECT_EQ(datapath().answerBytesPunted().lookup(identity())->bytes, kAnswerQuota);
  EXPECT_EQ(flowDescriptions(), Descriptions{tlsFlow(SKOUTER_FLOW_SERVER_NAME_PENDING)});

  ASSERT_EQ(datapath().answerBytesConsumed().update(identity(), {.bytes = kAnswerQuota}), 0);
  const Outcome retransmitted = send(first);
  EXPECT_EQ(retransmitted.verdict, Verdict::kDrop);
  EXPECT_EQ(retransmitted.moved, at({{"server_name_held", 1}}));
  expectHeld(retransmitted.held, first, IPPROTO_TCP);
  EXPECT_EQ(
      datapath().answerBytesPunted().lookup(identity())->bytes,
      kAnswerQuota + SKOUTER_RINGBUF_FOOTPRINT(sizeof(skouter_answer_header) + first.frame.size()));
}

std::string paramName(const ::testing::TestParamInfo<Param>& info) {
  return std::get<0>(info.param)->name +
         (std::get<1>(info.param) == Workload::kPod ? "Pod" : "Host");
}

INSTANTIATE_TEST_SUITE_P(Workloads, ServerNameTest,
                         ::testing::Combine(::testing::Values(&ipv4Network(), &ipv6Network()),
                                            ::testing::Values(Workload::kHost, Workload::kPod)),
                         paramName);

}  // namespace
}  // namespace skouter::bpftest
