// uplink_ingress: DNS answers for the host are held for the daemon; connections
// opened from outside are noted so that uplink_egress lets their replies out.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>

#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kSshPort = 22;
constexpr std::uint16_t kWorldPort = 50000;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kDnsId = 0x1234;
constexpr std::uint16_t kOtherDnsId = 0x9999;
constexpr std::uint16_t kEchoId = 0x4242;
constexpr std::uint16_t kVlanId = 100;
constexpr char kName[] = "example.com";

PacketBuilder toHost(const TestNetwork& network, const IpAddress& source) {
  return PacketBuilder(source, network.host);
}

// The answer to the host's query kDnsId from kHostPort, as `resolver`:`port` sends it.
Packet answerFrom(const TestNetwork& network, const IpAddress& resolver, std::uint16_t port,
                  std::uint16_t client_port = kHostPort, std::uint16_t dns_id = kDnsId) {
  return toHost(network, resolver)
      .udp(port, client_port, dnsAnswer(dns_id, kName, network.learned))
      .build();
}

void recordHostQuery(DatapathFixture& datapath, const TestNetwork& network) {
  datapath.putQuery(DatapathFixture::queryKey(network.host, kHostPort, kDnsId), monotonicNowNs());
}

std::uint32_t loopbackIfindex() { return if_nametoindex("lo"); }

// The answer went to the daemon exactly as it arrived, with what it needs to find its
// headers and to whom it belongs.
void expectPuntedOnce(DatapathFixture& datapath, const Packet& packet) {
  const std::vector<PuntedAnswer> answers = datapath.drainAnswers();
  ASSERT_EQ(answers.size(), 1u);
  const skouter_answer_header& header = answers[0].header;
  datapath.expectStampedDuringTest(header.received_ns);
  // BPF_PROG_TEST_RUN puts the packet on the loopback device unless told otherwise.
  EXPECT_EQ(header.ifindex, loopbackIfindex());
  EXPECT_EQ(header.hook, static_cast<std::uint32_t>(SKOUTER_HOOK_UPLINK_INGRESS));
  EXPECT_EQ(header.identity, static_cast<std::uint32_t>(SKOUTER_HOST_IDENTITY));
  EXPECT_EQ(header.frame_len, packet.frame.size());
  EXPECT_EQ(header.l3_offset, packet.l3_offset);
  EXPECT_EQ(header.l4_offset, packet.l4_offset);
  EXPECT_EQ(answers[0].frame, packet.frame);
}

void expectNothingPunted(DatapathFixture& datapath) {
  EXPECT_EQ(datapath.drainAnswers().size(), 0u);
}

// The query was neither answered nor given up on: it waits for its real answer.
auto expectQueryStillOutstanding(const TestNetwork& n) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(datapath.queryDescriptions(),
              (Descriptions{queryDescription(n.host, kHostPort, kDnsId)}));
    expectNothingPunted(datapath);
  };
}

void expectQueryGoneNothingPunted(DatapathFixture& datapath) {
  EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
  expectNothingPunted(datapath);
}

std::vector<PacketCase> casesFor(const TestNetwork& n) {
  const bool v4 = n.host.family == IpFamily::kV4;
  const auto record_query = [=](DatapathFixture& datapath) { recordHostQuery(datapath, n); };
  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  // Options and tags move both headers the daemon is told about.
  PacketBuilder displaced_answer = toHost(n, n.resolver).vlan(kVlanId);
  if (v4) {
    displaced_answer.ipv4Options({1, 1, 1, 1});  // four No-Operation options
  } else {
    displaced_answer.hopByHop().destinationOptions();
  }
  const Packet displaced =
      displaced_answer.udp(kDnsPort, kHostPort, dnsAnswer(kDnsId, kName, n.learned)).build();
  const auto outbound_flow =
      DatapathFixture::flowKey(IPPROTO_TCP, n.host, kHostPort, n.learned, kHttpsPort);

  std::vector<PacketCase> cases = {
      // Answers from the trusted resolvers.
      {.description = "answer to a recorded query is punted to the daemon and dropped",
       .packet = answer,
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
             expectPuntedOnce(datapath, answer);
           }},
      {.description = "answer behind a VLAN tag and options is punted with its offsets",
       .packet = displaced,
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = [=](DatapathFixture& datapath) { expectPuntedOnce(datapath, displaced); }},
      {.description = "answer while the daemon's heartbeat is stale passes",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}},
       .check = expectQueryGoneNothingPunted},
      {.description = "answer within a lengthened failsafe timeout is punted",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.setFailsafeNs(60 * kNanosPerSecond);
             datapath.beatAt(monotonicNowNs() - 10 * kNanosPerSecond);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = [=](DatapathFixture& datapath) { expectPuntedOnce(datapath, answer); }},
      {.description = "answer before the daemon's first heartbeat passes",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.beatAt(0);
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}},
       .check = expectQueryGoneNothingPunted},
      {.description = "answer with no query recorded passes untouched",
       .packet = answer,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryGoneNothingPunted},
      {.description = "answer with another DNS id passes untouched",
       .packet = answerFrom(n, n.resolver, kDnsPort, kHostPort, kOtherDnsId),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "answer to another client port passes untouched",
       .packet = answerFrom(n, n.resolver, kDnsPort, kHostPort + 1),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "query from a trusted resolver is not taken for an answer",
       .packet = toHost(n, n.resolver)
                     .udp(kDnsPort, kHostPort, dnsQuery(kDnsId, kName, n.host.family))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .check = expectQueryStillOutstanding(n)},
      {.description = "first fragment of an answer passes untouched",
       .packet = toHost(n, n.resolver)
                     .fragment(0, true)
                     .udp(kDnsPort, kHostPort, dnsAnswer(kDnsId, kName, n.learned))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_fragment", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "later fragment of an answer passes untouched",
       .packet = toHost(n, n.resolver)
                     .fragment(1232, false)
                     .fragmentData(IPPROTO_UDP, Bytes(64, 0xab))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .check = expectQueryStillOutstanding(n)},
      {.description = "answer the daemon re-injected passes",
       .packet = answer,
       .context = {.mark = DatapathFixture::kReinjectMark},
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"reinjected_seen", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "unmarked answer is punted when no re-inject mark is configured",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.setReinjectMark(0);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = [=](DatapathFixture& datapath) { expectPuntedOnce(datapath, answer); }},
      {.description = "host not policed lets answers pass and punts nothing",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.setFlags(0);
           },
       .verdict = Verdict::kPass,
       .check = expectQueryStillOutstanding(n)},

      // Answers from elsewhere are just datagrams.
      {.description = "answer from an untrusted address passes and is not punted",
       .packet = answerFrom(n, n.denied, kDnsPort),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "answer from a resolver address on another port is not punted",
       .packet = answerFrom(n, n.resolver, 5353),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check = expectQueryStillOutstanding(n)},

      // Connections opened from outside.
      {.description = "inbound SYN opens an inbound flow",
       .packet = toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.flowDescriptions(),
                       (Descriptions{flowDescription(IPPROTO_TCP, n.host, kSshPort, n.world,
                                                     kWorldPort, SKOUTER_FLOW_INBOUND)}));
             datapath.expectStampedDuringTest(datapath.flows().at(0).second.last_seen_ns);
           }},
      {.description = "inbound ACK without a flow opens none",
       .packet = toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpAck).build(),
       .verdict = Verdict::kPass,
       .check = expectFlows({})},
      {.description = "inbound SYN ACK without a flow opens none",
       .packet = toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpSyn | kTcpAck).build(),
       .verdict = Verdict::kPass,
       .check = expectFlows({})},
      {.description = "inbound echo request opens a flow keyed by its identifier",
       .packet = toHost(n, n.world).echoRequest(kEchoId).build(),
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check = expectFlows({flowDescription(icmpProtocol(n.host.family), n.host, kEchoId, n.world,
                                             0, SKOUTER_FLOW_INBOUND)})},
      {.description = "inbound echo reply without a flow opens none",
       .packet = toHost(n, n.world).echoReply(kEchoId).build(),
       .verdict = Verdict::kPass,
       .check = expectFlows({})},
      {.description = "inbound UDP datagram opens an inbound flow",
       .packet = toHost(n, n.world).udp(kWorldPort, kHostPort, Bytes(16, 0)).build(),
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check = expectFlows({flowDescription(IPPROTO_UDP, n.host, kHostPort, n.world, kWorldPort,
                                             SKOUTER_FLOW_INBOUND)})},
      {.description = "reply of an outbound flow refreshes it and opens none",
       .packet = toHost(n, n.learned).tcp(kHttpsPort, kHostPort, kTcpSyn | kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(outbound_flow, SKOUTER_FLOW_OUTBOUND,
                              monotonicNowNs() - DatapathFixture::kFlowIdleNs / 2);
           },
       .verdict = Verdict::kPass,
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.flowDescriptions(),
                       (Descriptions{flowDescription(IPPROTO_TCP, n.host, kHostPort, n.learned,
                                                     kHttpsPort, SKOUTER_FLOW_OUTBOUND)}));
             datapath.expectStampedDuringTest(datapath.flows().at(0).second.last_seen_ns);
           }},
      {.description = "truncated inbound packet passes and is counted",
       .packet =
           toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpSyn).truncateUpperLayerTo(10).build(),
       .verdict = Verdict::kPass,
       .moved = {{"parse_error", 1}},
       .check = expectFlows({})},
  };
  if (v4) {
    cases.push_back({.description = "inbound ARP passes",
                     .packet = {.frame = arpRequest(n.world, n.host)},
                     .verdict = Verdict::kPass});
  }
  for (PacketCase& packet_case : cases) packet_case.network = &n;
  return cases;
}

std::vector<PacketCase> allCases() {
  std::vector<PacketCase> cases = casesFor(ipv4Network());
  const std::vector<PacketCase> ipv6 = casesFor(ipv6Network());
  cases.insert(cases.end(), ipv6.begin(), ipv6.end());
  return cases;
}

class UplinkIngressTest : public PacketCaseTest {};

TEST_P(UplinkIngressTest, Verdict) { runCase(Program::kUplinkIngress); }

INSTANTIATE_TEST_SUITE_P(Table, UplinkIngressTest, ::testing::ValuesIn(allCases()), caseName);

// Sequences across both programs, as the host's packets meet them in turn.
class UplinkSequenceTest : public DatapathFixture,
                           public ::testing::WithParamInterface<const TestNetwork*> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    installPolicy(network());
  }
  const TestNetwork& network() const { return *GetParam(); }
};

TEST_P(UplinkSequenceTest, InboundSynLetsTheSynAckOut) {
  const TestNetwork& n = network();
  const Packet syn_ack =
      PacketBuilder(n.host, n.world).tcp(kSshPort, kWorldPort, kTcpSyn | kTcpAck).build();
  // The world's address is in no rule: on its own the reply would be dropped.
  ASSERT_EQ(runUplinkEgress(syn_ack), Verdict::kDrop);

  EXPECT_EQ(runUplinkIngress(toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpSyn).build()),
            Verdict::kPass);
  EXPECT_EQ(runUplinkEgress(syn_ack), Verdict::kPass);
  EXPECT_EQ(
      counters(),
      (Counters{{"egress_denied", 1}, {"ingress_flow_recorded", 1}, {"egress_allowed_flow", 1}}));
}

TEST_P(UplinkSequenceTest, InboundEchoRequestLetsTheEchoReplyOut) {
  const TestNetwork& n = network();
  const Packet reply = PacketBuilder(n.host, n.world).echoReply(kEchoId).build();
  ASSERT_EQ(runUplinkEgress(reply), Verdict::kDrop);

  EXPECT_EQ(runUplinkIngress(toHost(n, n.world).echoRequest(kEchoId).build()), Verdict::kPass);
  EXPECT_EQ(runUplinkEgress(reply), Verdict::kPass);
  EXPECT_EQ(
      counters(),
      (Counters{{"egress_denied", 1}, {"ingress_flow_recorded", 1}, {"egress_allowed_flow", 1}}));
}

TEST_P(UplinkSequenceTest, InboundAckLetsNothingOut) {
  const TestNetwork& n = network();
  EXPECT_EQ(runUplinkIngress(toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpAck).build()),
            Verdict::kPass);
  EXPECT_EQ(
      runUplinkEgress(PacketBuilder(n.host, n.world).tcp(kSshPort, kWorldPort, kTcpAck).build()),
      Verdict::kDrop);
  EXPECT_EQ(counters(), (Counters{{"egress_denied", 1}}));
}

TEST_P(UplinkSequenceTest, QueryNotedOnEgressHoldsItsAnswerOnIngress) {
  const TestNetwork& n = network();
  const Packet query = PacketBuilder(n.host, n.resolver)
                           .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, kName, n.host.family))
                           .build();
  ASSERT_EQ(runUplinkEgress(query), Verdict::kPass);

  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  expectPuntedOnce(*this, answer);
  EXPECT_EQ(queryDescriptions(), Descriptions{});

  // A second copy of the answer (a resolver's retransmission) finds no query left: an
  // answer is punted once.
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kPass);
  expectNothingPunted(*this);
  EXPECT_EQ(counters(), (Counters{{"egress_allowed_resolver", 1},
                                  {"dns_query_recorded", 1},
                                  {"dns_answer_punted", 1},
                                  {"dns_answer_unsolicited", 1}}));
}

INSTANTIATE_TEST_SUITE_P(Families, UplinkSequenceTest,
                         ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
