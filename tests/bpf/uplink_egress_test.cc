// uplink_egress: the verdict on the host's own traffic leaving the node.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kWorldPort = 50000;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kDnsId = 0x1234;
constexpr std::uint16_t kEchoId = 0x4242;
constexpr std::uint16_t kVlanId = 100;

constexpr std::uint32_t kPolicedAndAudited = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT;
constexpr std::uint32_t kPolicedAndHostAudited = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_HOST_AUDIT;
constexpr std::uint32_t kPolicedFailOpen = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_FAIL_OPEN;

PacketBuilder fromHost(const TestNetwork& network, const IpAddress& destination) {
  return PacketBuilder(network.host, destination);
}

Packet synTo(const TestNetwork& network, const IpAddress& destination) {
  return fromHost(network, destination).tcp(kHostPort, kHttpsPort, kTcpSyn).build();
}

Bytes queryMessage(const TestNetwork& network) {
  return dnsQuery(kDnsId, "example.com", network.host.family);
}

// Two queries framed for TCP back to back, as one segment carries them.
Bytes twoQueries(const Bytes& first, const Bytes& second) {
  Bytes both = tcpFramed(first);
  const Bytes framed = tcpFramed(second);
  both.insert(both.end(), framed.begin(), framed.end());
  return both;
}

// `packet` with its UDP checksum field overwritten.
Packet withUdpChecksum(Packet packet, std::uint16_t checksum) {
  packet.frame[packet.l4_offset + 6] = static_cast<std::uint8_t>(checksum >> 8);
  packet.frame[packet.l4_offset + 7] = static_cast<std::uint8_t>(checksum);
  return packet;
}

Packet queryTo(const TestNetwork& network, const IpAddress& resolver, std::uint16_t port) {
  return fromHost(network, resolver).udp(kHostPort, port, queryMessage(network)).build();
}

// The only outstanding query is the host's kDnsId from kHostPort, kept with `question`
// (the bytes after the query's header) and stamped during the test.
auto expectQueryRecordedWith(const TestNetwork& network, Bytes question) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(datapath.queryDescriptions(),
              (Descriptions{queryDescription(network.host, kHostPort, kDnsId)}));
    const auto queries = datapath.queries();
    ASSERT_EQ(queries.size(), 1u);
    const skouter_dns_query_value& value = queries[0].second;
    datapath.expectStampedDuringTest(value.sent_ns);
    ASSERT_LE(value.question_len, sizeof(value.question));
    EXPECT_EQ(Bytes(value.question, value.question + value.question_len), question);
  };
}

// The host's TCP connections to the resolver, noted to hold what comes back on them.
auto expectTcpConnections(std::vector<std::pair<const TestNetwork*, std::uint16_t>> ports) {
  return [=](DatapathFixture& datapath) {
    Descriptions expected;
    for (const auto& [network, port] : ports) {
      expected.push_back(tcpConnectionDescription(network->host, port));
    }
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(datapath.queryDescriptions(), expected);
    for (const auto& [key, value] : datapath.queries()) {
      EXPECT_EQ(value.question_len, 0u) << "a TCP connection keeps no question";
      EXPECT_EQ(key.dns_id, 0u);
    }
  };
}

// BPF_PROG_TEST_RUN refuses a frame whose EtherType is IP but which is too short for the
// base IP header; behind a VLAN tag it lets such a frame through to the program.
Packet taggedWithIpHeaderCutOff(const TestNetwork& network) {
  Packet packet =
      fromHost(network, network.learned).vlan(kVlanId).tcp(kHostPort, kHttpsPort, kTcpSyn).build();
  packet.frame.resize(packet.l3_offset + 10);
  return packet;
}

// The data of a later fragment: the middle of some datagram, no header in it.
Bytes fragmentBytes() { return Bytes(64, 0xab); }

auto expectNoFlows() { return expectFlows({}); }

auto expectOutboundTcpFlow(const TestNetwork& network, const IpAddress& remote) {
  return expectFlows({flowDescription(IPPROTO_TCP, network.host, kHostPort, remote, kHttpsPort,
                                      SKOUTER_FLOW_OUTBOUND)});
}

auto expectAuditedTcpFlow(const TestNetwork& network, const IpAddress& remote) {
  return expectFlows({flowDescription(IPPROTO_TCP, network.host, kHostPort, remote, kHttpsPort,
                                      SKOUTER_FLOW_AUDITED)});
}

auto expectFlowStampedDuringTest() {
  return [](DatapathFixture& datapath) {
    const auto flows = datapath.flows();
    ASSERT_EQ(flows.size(), 1u);
    datapath.expectStampedDuringTest(flows[0].second.last_seen_ns);
  };
}

std::vector<PacketCase> casesFor(const TestNetwork& n) {
  const bool v4 = n.host.family == IpFamily::kV4;
  const std::uint64_t idle = DatapathFixture::kFlowIdleNs;
  const auto denied_flow =
      DatapathFixture::flowKey(IPPROTO_TCP, n.host, kHostPort, n.denied, kHttpsPort);
  const auto expired_flow =
      DatapathFixture::flowKey(IPPROTO_TCP, n.host, kHostPort, n.expired, kHttpsPort);
  const auto learned_flow =
      DatapathFixture::flowKey(IPPROTO_TCP, n.host, kHostPort, n.learned, kHttpsPort);

  const Bytes query_message = queryMessage(n);
  const Bytes header_only_query(query_message.begin(), query_message.begin() + 12);

  std::vector<PacketCase> cases = {
      // Before any judgement.
      {.description = "host not policed passes a denied destination",
       .packet = synTo(n, n.denied),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(0); },
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},
      {.description = "packet forwarded from a pod interface passes untouched even to a denied "
                      "destination",
       .packet = synTo(n, n.denied),
       .context = kForwarded,
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setInterfaceKind(kForwardedIfindex, SKOUTER_INTERFACE_POD);
           },
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},

      // New flows, judged by policy.
      {.description = "SYN to a learned address opens an outbound flow",
       .packet = synTo(n, n.learned),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = all(expectOutboundTcpFlow(n, n.learned), expectFlowStampedDuringTest())},
      {.description = "SYN to an expired learned address is dropped",
       .packet = synTo(n, n.expired),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_expired", 1}, {"egress_denied", 1}},
       .check = expectNoFlows()},
      {.description = "SYN to a static address passes",
       .packet = synTo(n, n.static_ip),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_static", 1}},
       .check = expectOutboundTcpFlow(n, n.static_ip)},
      {.description = "SYN into a CIDR passes",
       .packet = synTo(n, n.in_cidr),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_static", 1}},
       .check = expectOutboundTcpFlow(n, n.in_cidr)},
      {.description = "SYN just outside a CIDR is dropped",
       .packet = synTo(n, n.outside_cidr),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      {.description = "SYN to an address in no rule is dropped",
       .packet = synTo(n, n.denied),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      // Audit: the flow is noted as audited, so that it is reported once; it passes as a
      // flow only while the audit lasts.
      {.description = "audit mode passes a denied SYN, counts it, opens an audited flow",
       .packet = synTo(n, n.denied),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_audited", 1}},
       .check = all(expectAuditedTcpFlow(n, n.denied), expectFlowStampedDuringTest())},
      {.description = "host audit passes a denied SYN, counts it, opens an audited flow",
       .packet = synTo(n, n.denied),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndHostAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_audited", 1}},
       .check = all(expectAuditedTcpFlow(n, n.denied), expectFlowStampedDuringTest())},
      {.description = "audit mode passes a denied echo request and opens an audited flow",
       .packet = fromHost(n, n.denied).echoRequest(kEchoId).build(),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_audited", 1}},
       .check = expectFlows({flowDescription(icmpProtocol(n.host.family), n.host, kEchoId,
                                             n.denied, 0, SKOUTER_FLOW_AUDITED)})},
      {.description = "audit mode passes a denied later fragment and opens no flow",
       .packet = fromHost(n, n.denied)
                     .fragment(1480, false)
                     .fragmentData(IPPROTO_UDP, fragmentBytes())
                     .build(),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_audited", 1}},
       .check = expectNoFlows()},
      {.description = "audit mode opens flows to allowed addresses as outbound",
       .packet = synTo(n, n.learned),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectOutboundTcpFlow(n, n.learned)},
      {.description = "audited flow passes as a flow while the audit lasts",
       .packet = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedAndAudited);
             datapath.putFlow(denied_flow, SKOUTER_FLOW_AUDITED, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = all(expectAuditedTcpFlow(n, n.denied), expectFlowStampedDuringTest())},
      {.description = "audited flow passes as a flow while the host audit lasts",
       .packet = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedAndHostAudited);
             datapath.putFlow(denied_flow, SKOUTER_FLOW_AUDITED, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectAuditedTcpFlow(n, n.denied)},
      {.description = "audited flow is judged anew once the audit ends and dropped",
       .packet = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(denied_flow, SKOUTER_FLOW_AUDITED, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "audited flow to an address allowed since becomes outbound after the audit",
       .packet = fromHost(n, n.learned).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(learned_flow, SKOUTER_FLOW_AUDITED, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = all(expectOutboundTcpFlow(n, n.learned), expectFlowStampedDuringTest())},
      {.description = "outbound flow passes whatever the audit",
       .packet = fromHost(n, n.expired).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedAndHostAudited);
             datapath.putFlow(expired_flow, SKOUTER_FLOW_OUTBOUND, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = expectOutboundTcpFlow(n, n.expired)},
      {.description = "host audit without the host policed passes and notes nothing",
       .packet = synTo(n, n.denied),
       .setup =
           [](DatapathFixture& datapath) { datapath.setFlags(SKOUTER_CFG_HOST_AUDIT); },
       .verdict = Verdict::kPass,
       .check = expectNoFlows()},

      // Established flows.
      {.description = "established flow passes after its learned address expired",
       .packet = fromHost(n, n.expired).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(expired_flow, SKOUTER_FLOW_OUTBOUND, datapathNowNs() - idle / 2);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_flow", 1}},
       .check = all(expectOutboundTcpFlow(n, n.expired), expectFlowStampedDuringTest())},
      {.description = "flow idle beyond the timeout is judged anew and dropped",
       .packet = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(denied_flow, SKOUTER_FLOW_OUTBOUND, datapathNowNs() - 2 * idle);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "flow idle beyond a shortened timeout is judged anew",
       .packet = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.setFlowIdleNs(kNanosPerSecond);
             datapath.putFlow(denied_flow, SKOUTER_FLOW_OUTBOUND,
                              datapathNowNs() - 2 * kNanosPerSecond);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "flow idle beyond the timeout is judged anew and reopened",
       .packet = fromHost(n, n.learned).tcp(kHostPort, kHttpsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(learned_flow, SKOUTER_FLOW_OUTBOUND, datapathNowNs() - 2 * idle);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = all(expectOutboundTcpFlow(n, n.learned), expectFlowStampedDuringTest())},

      // DNS to the trusted resolvers.
      {.description = "UDP query to a trusted resolver passes and is recorded with its question",
       .packet = queryTo(n, n.resolver, kDnsPort),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = all(expectQueryRecordedWith(n, afterDnsHeader(queryMessage(n))), expectNoFlows())},
      {.description = "UDP query with EDNS keeps the OPT record after its question",
       .packet = fromHost(n, n.resolver).udp(kHostPort, kDnsPort, withEdns(queryMessage(n))).build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectQueryRecordedWith(n, afterDnsHeader(withEdns(queryMessage(n))))},
      {.description = "UDP query in a padded frame keeps only the datagram's bytes",
       .packet = fromHost(n, n.resolver)
                     .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, "a.io", n.host.family))
                     .ethernetPadding(24)
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectQueryRecordedWith(n, afterDnsHeader(dnsQuery(kDnsId, "a.io", n.host.family)))},
      {.description = "UDP query with only a header is recorded without a question",
       .packet = fromHost(n, n.resolver)
                     .udp(kHostPort, kDnsPort, header_only_query)
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectQueryRecordedWith(n, {})},
      // A datagram written whole (a raw socket) leaves with the checksum it has; with a
      // wrong one the resolver's kernel drops it, so it is no query an answer may match.
      // BPF_PROG_TEST_RUN's packets are such datagrams (CHECKSUM_NONE).
      {.description = "UDP query with a wrong checksum passes but is not recorded",
       .packet = withUdpChecksum(queryTo(n, n.resolver, kDnsPort), 0x5a5a),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}},
       .check =
           [](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
           }},
      {.description = "UDP query without a checksum is recorded over IPv4 only",
       .packet = withUdpChecksum(queryTo(n, n.resolver, kDnsPort), 0),
       .verdict = Verdict::kPass,
       .moved = n.host.family == IpFamily::kV4
                    ? Counters{{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}
                    : Counters{{"egress_allowed_resolver", 1}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions().size(),
                       n.host.family == IpFamily::kV4 ? 1u : 0u);
           }},
      {.description = "response sent to a trusted resolver is not recorded as a query",
       .packet = fromHost(n, n.resolver)
                     .udp(kHostPort, kDnsPort, dnsAnswer(kDnsId, "example.com", n.learned))
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}},
       .check =
           [](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
           }},
      {.description = "TCP SYN to a trusted resolver passes and notes the connection",
       .packet = fromHost(n, n.resolver).tcp(kHostPort, kDnsPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = all(expectTcpConnections({{&n, kHostPort}}),
                    [](DatapathFixture& datapath) {
                      datapath.expectStampedDuringTest(datapath.queries().at(0).second.sent_ns);
                    },
                    expectNoFlows())},
      // Each query on the connection is recorded, for its answer to be matched to it.
      {.description = "TCP query data to a trusted resolver notes the connection and the query",
       .packet = fromHost(n, n.resolver)
                     .tcp(kHostPort, kDnsPort, kTcpPsh | kTcpAck, tcpFramed(queryMessage(n)))
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 2}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(),
                       (Descriptions{tcpConnectionDescription(n.host, kHostPort),
                                     tcpQueryDescription(n.host, kHostPort, kDnsId)}));
             const auto queries = datapath.queries();
             for (const auto& [key, value] : queries) {
               if (key.kind != SKOUTER_DNS_TCP_QUERY) continue;
               EXPECT_EQ(Bytes(value.question, value.question + value.question_len),
                         afterDnsHeader(queryMessage(n)));
             }
           }},
      {.description = "TCP segment with two queries back to back records both",
       .packet = fromHost(n, n.resolver)
                     .tcp(kHostPort, kDnsPort, kTcpPsh | kTcpAck,
                          twoQueries(queryMessage(n), dnsQuery(0x9999, "a.io", n.host.family)))
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 3}},
       .check =
           [=](DatapathFixture& datapath) {
             Descriptions expected{tcpConnectionDescription(n.host, kHostPort),
                                   tcpQueryDescription(n.host, kHostPort, kDnsId),
                                   tcpQueryDescription(n.host, kHostPort, 0x9999)};
             std::sort(expected.begin(), expected.end());
             EXPECT_EQ(datapath.queryDescriptions(), expected);
           }},
      // A connection open before skouter started is noted by its next packet.
      {.description = "TCP ACK of a connection not yet noted notes it",
       .packet = fromHost(n, n.resolver).tcp(kHostPort, kDnsPort, kTcpAck).build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectTcpConnections({{&n, kHostPort}})},
      // Each segment of the client refreshes the note, so that the daemon forgets only
      // connections long silent; it is noted once.
      {.description = "TCP ACK of a noted connection passes and refreshes the note",
       .packet = fromHost(n, n.resolver).tcp(kHostPort, kDnsPort, kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(DatapathFixture::tcpConnectionKey(n.host, kHostPort), 12345);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}},
       .check = all(expectTcpConnections({{&n, kHostPort}}),
                    [](DatapathFixture& datapath) {
                      datapath.expectStampedDuringTest(datapath.queries().at(0).second.sent_ns);
                    })},
      {.description = "TCP from another client port notes a connection of its own",
       .packet = fromHost(n, n.resolver).tcp(kHostPort + 1, kDnsPort, kTcpSyn).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(DatapathFixture::tcpConnectionKey(n.host, kHostPort),
                               datapathNowNs());
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectTcpConnections({{&n, kHostPort}, {&n, kHostPort + 1}})},
      {.description = "TCP to a resolver address on another port is policed and not noted",
       .packet = fromHost(n, n.resolver).tcp(kHostPort, 5353, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check =
           [](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
           }},
      {.description = "query to a resolver address on another port is policed",
       .packet = queryTo(n, n.resolver, 5353),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check =
           [](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(), Descriptions{});
           }},

      // --fail-open: no enforcement while the daemon is silent, and only then.
      {.description = "fail open with a stale heartbeat passes a denied SYN and opens no flow",
       .packet = synTo(n, n.denied),
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedFailOpen);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_fail_open", 1}},
       .check = expectNoFlows()},
      {.description = "fail open before the daemon's first heartbeat passes a denied SYN",
       .packet = synTo(n, n.denied),
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedFailOpen);
             datapath.beatAt(0);
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_fail_open", 1}},
       .check = expectNoFlows()},
      {.description = "fail open with a stale heartbeat passes a denied echo request",
       .packet = fromHost(n, n.denied).echoRequest(kEchoId).build(),
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedFailOpen);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_fail_open", 1}},
       .check = expectNoFlows()},
      {.description = "fail open with a fresh heartbeat drops a denied SYN",
       .packet = synTo(n, n.denied),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedFailOpen); },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      {.description = "fail open with a fresh heartbeat opens flows to allowed addresses",
       .packet = synTo(n, n.learned),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedFailOpen); },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectOutboundTcpFlow(n, n.learned)},
      {.description = "fail open within a lengthened failsafe timeout drops a denied SYN",
       .packet = synTo(n, n.denied),
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedFailOpen);
             datapath.setFailsafeNs(60 * kNanosPerSecond);
             datapath.beatAt(datapathNowNs() - 10 * kNanosPerSecond);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "stale heartbeat without fail open still drops a denied SYN",
       .packet = synTo(n, n.denied),
       .setup = [](DatapathFixture& datapath) { datapath.beatStale(); },
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
      // The answer finds its query on ingress and passes (the daemon is away): without
      // the note it would be dropped as unsolicited, and DNS would go dark.
      {.description = "fail open with a stale heartbeat still records queries",
       .packet = queryTo(n, n.resolver, kDnsPort),
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setFlags(kPolicedFailOpen);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
       .check = expectQueryRecordedWith(n, afterDnsHeader(queryMessage(n)))},

      // Headers that move the upper layer.
      {.description = "VLAN tagged SYN to a learned address passes",
       .packet = fromHost(n, n.learned).vlan(kVlanId).tcp(kHostPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectOutboundTcpFlow(n, n.learned)},
      {.description = "VLAN tagged SYN to a denied address is dropped",
       .packet = fromHost(n, n.denied).vlan(kVlanId).tcp(kHostPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "doubly VLAN tagged query to a trusted resolver is recorded",
       .packet = fromHost(n, n.resolver)
                     .vlan(kVlanId)
                     .vlan(kVlanId + 1)
                     .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, "example.com", n.host.family))
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}},

      // Malformed packets.
      {.description = "TCP header cut off is dropped",
       .packet = fromHost(n, n.learned)
                     .tcp(kHostPort, kHttpsPort, kTcpSyn)
                     .truncateUpperLayerTo(10)
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}},
       .check = expectNoFlows()},
      {.description = "UDP header cut off is dropped",
       .packet = fromHost(n, n.resolver).udp(kHostPort, kDnsPort).truncateUpperLayerTo(6).build(),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}}},
      {.description = "VLAN tagged frame with its IP header cut off is dropped",
       .packet = taggedWithIpHeaderCutOff(n),
       .verdict = Verdict::kDrop,
       .moved = {{"parse_error", 1}}},
      {.description = "malformed packet passes in audit mode",
       .packet = fromHost(n, n.denied)
                     .tcp(kHostPort, kHttpsPort, kTcpSyn)
                     .truncateUpperLayerTo(10)
                     .build(),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"parse_error", 1}}},
      {.description = "malformed packet passes in host audit mode",
       .packet = fromHost(n, n.denied)
                     .tcp(kHostPort, kHttpsPort, kTcpSyn)
                     .truncateUpperLayerTo(10)
                     .build(),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndHostAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"parse_error", 1}},
       .check = expectNoFlows()},
      {.description = "VLAN tagged frame with its IP header cut off passes in host audit mode",
       .packet = taggedWithIpHeaderCutOff(n),
       .setup = [](DatapathFixture& datapath) { datapath.setFlags(kPolicedAndHostAudited); },
       .verdict = Verdict::kPass,
       .moved = {{"parse_error", 1}}},

      // Fragments after the first carry no ports: judged by address alone.
      {.description = "later fragment to a learned address passes",
       .packet = fromHost(n, n.learned)
                     .fragment(1480, false)
                     .fragmentData(IPPROTO_UDP, fragmentBytes())
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectNoFlows()},
      {.description = "later fragment to a denied address is dropped",
       .packet = fromHost(n, n.denied)
                     .fragment(1480, true)
                     .fragmentData(IPPROTO_UDP, fragmentBytes())
                     .build(),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}}},
      {.description = "first fragment to a learned address opens a flow",
       .packet = fromHost(n, n.learned)
                     .fragment(0, true)
                     .udp(kHostPort, kHttpsPort, Bytes(32, 0xcd))
                     .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectFlows({flowDescription(IPPROTO_UDP, n.host, kHostPort, n.learned, kHttpsPort,
                                             SKOUTER_FLOW_OUTBOUND)})},

      // Control traffic the host needs to stay on the network.
      // About a packet of one of the host's flows, sent back to its sender: whatever the
      // policy says of the sender's address.
      {.description = "ICMP destination unreachable about a flow passes as control traffic",
       .packet = fromHost(n, n.denied)
                     .destinationUnreachable(quoteOf(
                         PacketBuilder(n.denied, n.host).udp(kWorldPort, kHostPort).build()))
                     .build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(DatapathFixture::flowKey(IPPROTO_UDP, n.host, kHostPort, n.denied,
                                                       kWorldPort),
                              SKOUTER_FLOW_INBOUND, datapathNowNs());
           },
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}}},
      {.description = "DHCP client to server passes as control traffic",
       .packet =
           v4 ? PacketBuilder(*IpAddress::parse("0.0.0.0"), *IpAddress::parse("255.255.255.255"))
                    .udp(68, 67, Bytes(240, 0))
                    .build()
              : PacketBuilder(*IpAddress::parse("fe80::1"), *IpAddress::parse("ff02::1:2"))
                    .udp(546, 547, Bytes(32, 0))
                    .build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_control", 1}},
       .check = expectNoFlows()},

      // ICMP echo: the identifier stands in for the ports.
      {.description = "echo request to a learned address opens a flow keyed by its identifier",
       .packet = fromHost(n, n.learned).echoRequest(kEchoId).build(),
       .verdict = Verdict::kPass,
       .moved = {{"egress_allowed_learned", 1}},
       .check = expectFlows({flowDescription(icmpProtocol(n.host.family), n.host, kEchoId,
                                             n.learned, 0, SKOUTER_FLOW_OUTBOUND)})},
      {.description = "echo request to a denied address is dropped",
       .packet = fromHost(n, n.denied).echoRequest(kEchoId).build(),
       .verdict = Verdict::kDrop,
       .moved = {{"egress_denied", 1}},
       .check = expectNoFlows()},
  };

  if (v4) {
    // Record Route with room for two addresses: 12 bytes of options, IHL 8.
    const Bytes record_route = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0};
    const std::vector<PacketCase> ipv4_only = {
        {.description = "ARP passes",
         .packet = {.frame = arpRequest(n.host, n.denied)},
         .verdict = Verdict::kPass},
        {.description = "SYN with IP options to a learned address passes",
         .packet = fromHost(n, n.learned)
                       .ipv4Options(record_route)
                       .tcp(kHostPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}},
         .check = expectOutboundTcpFlow(n, n.learned)},
        {.description = "SYN with IP options to a denied address is dropped",
         .packet = fromHost(n, n.denied)
                       .ipv4Options(record_route)
                       .tcp(kHostPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "query with IP options to a trusted resolver is recorded",
         .packet = fromHost(n, n.resolver)
                       .ipv4Options(record_route)
                       .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, "example.com", n.host.family))
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
         .check =
             [=](DatapathFixture& datapath) {
               EXPECT_EQ(datapath.queryDescriptions(),
                         (Descriptions{queryDescription(n.host, kHostPort, kDnsId)}));
             }},
        {.description = "header length below five words is dropped",
         .packet =
             fromHost(n, n.learned).ipv4HeaderWords(4).tcp(kHostPort, kHttpsPort, kTcpSyn).build(),
         .verdict = Verdict::kDrop,
         .moved = {{"parse_error", 1}}},
    };
    cases.insert(cases.end(), ipv4_only.begin(), ipv4_only.end());
  } else {
    // Every extension header RFC 8200 (4.1) lets come before an upper layer header,
    // in its order; the fragment header makes this the first fragment.
    const auto behind_six_extension_headers = [&](const IpAddress& destination) {
      PacketBuilder builder(n.host, destination);
      builder.hopByHop().destinationOptions().routing().fragment(0, true).authentication();
      return builder.destinationOptions();
    };
    const std::vector<PacketCase> ipv6_only = {
        {.description = "SYN after extension headers to a learned address passes",
         .packet = fromHost(n, n.learned)
                       .hopByHop()
                       .destinationOptions()
                       .tcp(kHostPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}},
         .check = expectOutboundTcpFlow(n, n.learned)},
        {.description = "SYN after extension headers to a denied address is dropped",
         .packet = fromHost(n, n.denied)
                       .hopByHop()
                       .destinationOptions()
                       .tcp(kHostPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"egress_denied", 1}}},
        {.description = "query after extension headers to a trusted resolver is recorded",
         .packet = fromHost(n, n.resolver)
                       .hopByHop()
                       .destinationOptions()
                       .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, "example.com", n.host.family))
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}},
         .check =
             [=](DatapathFixture& datapath) {
               EXPECT_EQ(datapath.queryDescriptions(),
                         (Descriptions{queryDescription(n.host, kHostPort, kDnsId)}));
             }},
        {.description = "first fragment behind six extension headers opens a flow",
         .packet = behind_six_extension_headers(n.learned)
                       .udp(kHostPort, kHttpsPort, Bytes(32, 0xcd))
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}},
         .check = expectFlows({flowDescription(IPPROTO_UDP, n.host, kHostPort, n.learned,
                                               kHttpsPort, SKOUTER_FLOW_OUTBOUND)})},
        {.description = "query behind six extension headers to a trusted resolver is noted",
         .packet = behind_six_extension_headers(n.resolver)
                       .udp(kHostPort, kDnsPort, dnsQuery(kDnsId, "example.com", n.host.family))
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}},
        {.description = "SYN behind seven extension headers is dropped",
         .packet = behind_six_extension_headers(n.learned)
                       .destinationOptions()
                       .tcp(kHostPort, kHttpsPort, kTcpSyn)
                       .build(),
         .verdict = Verdict::kDrop,
         .moved = {{"parse_error", 1}},
         .check = expectNoFlows()},
        {.description = "later fragment after a hop by hop header to a learned address passes",
         .packet = fromHost(n, n.learned)
                       .hopByHop()
                       .fragment(1448, true)
                       .fragmentData(IPPROTO_TCP, fragmentBytes())
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_learned", 1}}},
        {.description = "neighbour solicitation passes as control traffic",
         .packet = PacketBuilder(n.host, *IpAddress::parse("ff02::1:ff00:99"))
                       .neighbourSolicitation(n.denied)
                       .build(),
         .verdict = Verdict::kPass,
         .moved = {{"egress_allowed_control", 1}}},
    };
    cases.insert(cases.end(), ipv6_only.begin(), ipv6_only.end());
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

class UplinkEgressTest : public PacketCaseTest {};

TEST_P(UplinkEgressTest, Verdict) { runCase(Program::kUplinkEgress); }

INSTANTIATE_TEST_SUITE_P(Table, UplinkEgressTest, ::testing::ValuesIn(allCases()), caseName);

// Whether a packet leaving the uplink is the host's own or forwarded rests on
// skb->ingress_ifindex alone: 0 for a packet that never arrived on an interface. The
// same denied packet must be judged in one case and passed in the other, and the
// kernel must hand the program the ingress_ifindex the test set.
class LocallyOriginatedTest : public DatapathFixture,
                              public ::testing::WithParamInterface<const TestNetwork*> {};

TEST_P(LocallyOriginatedTest, IngressIfindexZeroIsJudgedNonZeroIsForwarded) {
  const TestNetwork& n = *GetParam();
  installPolicy(n);
  // Forwarded from a pod's interface, whose programs judged the packet.
  setInterfaceKind(kForwardedIfindex, SKOUTER_INTERFACE_POD);
  const Packet packet = synTo(n, n.denied);
  __sk_buff seen{};

  EXPECT_EQ(run(datapath().uplinkEgressProgramFd(), packet.frame, kLocallyOriginated, &seen),
            Verdict::kDrop);
  EXPECT_EQ(seen.ingress_ifindex, 0u);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress", {{"egress_denied", 1}}}}));

  EXPECT_EQ(run(datapath().uplinkEgressProgramFd(), packet.frame, kForwarded, &seen),
            Verdict::kPass);
  EXPECT_EQ(seen.ingress_ifindex, kForwarded.ingress_ifindex);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress", {{"egress_denied", 1}}}}));
  EXPECT_EQ(flowDescriptions(), Descriptions{});
}

INSTANTIATE_TEST_SUITE_P(Families, LocallyOriginatedTest,
                         ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

// An audited connection lives only as long as the audit: its packets pass as a flow
// while the audit lasts, and once it ends each packet is judged by policy again.
struct AuditCase {
  const TestNetwork* network;
  std::uint32_t audit_flag;  // SKOUTER_CFG_AUDIT or SKOUTER_CFG_HOST_AUDIT
};

class AuditEndsTest : public DatapathFixture, public ::testing::WithParamInterface<AuditCase> {};

TEST_P(AuditEndsTest, AnAuditedFlowIsJudgedAnewOnceTheAuditEnds) {
  const TestNetwork& n = *GetParam().network;
  const std::uint32_t audited = SKOUTER_CFG_HOST_POLICED | GetParam().audit_flag;
  installPolicy(n);
  const Packet ack = fromHost(n, n.denied).tcp(kHostPort, kHttpsPort, kTcpAck).build();

  setFlags(audited);
  EXPECT_EQ(runUplinkEgress(synTo(n, n.denied)), Verdict::kPass);
  EXPECT_EQ(runUplinkEgress(ack), Verdict::kPass);
  const HookCounters audited_counters = {
      {"uplink_egress", {{"egress_audited", 1}, {"egress_allowed_flow", 1}}}};
  EXPECT_EQ(counters(), audited_counters);
  EXPECT_EQ(flowDescriptions(),
            (Descriptions{flowDescription(IPPROTO_TCP, n.host, kHostPort, n.denied, kHttpsPort,
                                          SKOUTER_FLOW_AUDITED)}));

  // Enforcement again: the next packet of the connection is dropped, and so is a
  // retransmission of it.
  setFlags(SKOUTER_CFG_HOST_POLICED);
  EXPECT_EQ(runUplinkEgress(ack), Verdict::kDrop);
  EXPECT_EQ(runUplinkEgress(ack), Verdict::kDrop);
  EXPECT_EQ(countersMoved(audited_counters, counters()),
            (HookCounters{{"uplink_egress", {{"egress_denied", 2}}}}));

  // The destination is allowed now: the connection passes, as an outbound flow.
  allowIp(n.denied, 0);
  EXPECT_EQ(runUplinkEgress(ack), Verdict::kPass);
  EXPECT_EQ(flowDescriptions(),
            (Descriptions{flowDescription(IPPROTO_TCP, n.host, kHostPort, n.denied, kHttpsPort,
                                          SKOUTER_FLOW_OUTBOUND)}));
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress",
                                       {{"egress_audited", 1},
                                        {"egress_allowed_flow", 1},
                                        {"egress_denied", 2},
                                        {"egress_allowed_learned", 1}}}}));
}

INSTANTIATE_TEST_SUITE_P(Families, AuditEndsTest,
                         ::testing::Values(AuditCase{&ipv4Network(), SKOUTER_CFG_AUDIT},
                                           AuditCase{&ipv4Network(), SKOUTER_CFG_HOST_AUDIT},
                                           AuditCase{&ipv6Network(), SKOUTER_CFG_AUDIT},
                                           AuditCase{&ipv6Network(), SKOUTER_CFG_HOST_AUDIT}),
                         [](const auto& info) {
                           return info.param.network->name +
                                  (info.param.audit_flag == SKOUTER_CFG_AUDIT ? "Audit"
                                                                              : "HostAudit");
                         });

}  // namespace
}  // namespace skouter::bpftest
