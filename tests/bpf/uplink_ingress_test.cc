// uplink_ingress: DNS answers for the host are held for the daemon; connections
// opened from outside are noted so that uplink_egress lets their replies out.
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
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

// The host's query kDnsId for kName, as its DNS message.
Bytes hostQueryMessage(const TestNetwork& network, std::uint16_t dns_id = kDnsId) {
  return dnsQuery(dns_id, kName, network.host.family);
}

// What the egress program keeps of that query: the bytes after its header.
Bytes hostQuestion(const TestNetwork& network) { return afterDnsHeader(hostQueryMessage(network)); }

// The answer to the host's query kDnsId from kHostPort, as `resolver`:`port` sends it.
Packet answerFrom(const TestNetwork& network, const IpAddress& resolver, std::uint16_t port,
                  std::uint16_t client_port = kHostPort, std::uint16_t dns_id = kDnsId) {
  return toHost(network, resolver)
      .udp(port, client_port, dnsAnswer(dns_id, kName, network.learned))
      .build();
}

// The answer to the host's query as DNS over TCP carries it.
Bytes tcpAnswerData(const TestNetwork& network) {
  return tcpFramed(dnsAnswer(kDnsId, kName, network.learned));
}

// A segment from the resolver to the host's connection from kHostPort.
Packet tcpFromResolver(const TestNetwork& network, std::uint8_t flags, Bytes payload = {},
                       Bytes options = {}) {
  return toHost(network, network.resolver)
      .tcp(kDnsPort, kHostPort, flags, std::move(payload), std::move(options))
      .build();
}

void recordHostQuery(DatapathFixture& datapath, const TestNetwork& network) {
  datapath.putQuery(DatapathFixture::queryKey(network.host, kHostPort, kDnsId), datapathNowNs(),
                    hostQuestion(network));
}

// As uplink_egress notes the host's TCP connection from kHostPort to the resolver.
void recordHostTcpConnection(DatapathFixture& datapath, const TestNetwork& network) {
  datapath.putQuery(DatapathFixture::tcpConnectionKey(network.host, kHostPort), datapathNowNs());
}

std::uint32_t loopbackIfindex() { return if_nametoindex("lo"); }

Bytes questionOf(const skouter_answer_header& header) {
  const std::size_t length = std::min<std::size_t>(header.question_len, SKOUTER_MAX_QUESTION);
  return Bytes(header.question, header.question + length);
}

// The frame went to the daemon exactly as it arrived, with what it needs to find its
// headers, to whom it belongs and (UDP) what its query asked.
void expectPunted(DatapathFixture& datapath, const PuntedAnswer& answer, const Packet& packet,
                  std::uint8_t protocol, const Bytes& question) {
  const skouter_answer_header& header = answer.header;
  datapath.expectStampedDuringTest(header.received_ns);
  // BPF_PROG_TEST_RUN puts the packet on the loopback device unless told otherwise.
  EXPECT_EQ(header.ifindex, loopbackIfindex());
  EXPECT_EQ(header.destination, static_cast<std::uint32_t>(SKOUTER_ANSWER_TO_HOST));
  EXPECT_EQ(header.identity, static_cast<std::uint32_t>(SKOUTER_HOST_IDENTITY));
  EXPECT_EQ(header.frame_len, packet.frame.size());
  EXPECT_EQ(header.l3_offset, packet.l3_offset);
  EXPECT_EQ(header.l4_offset, packet.l4_offset);
  EXPECT_EQ(static_cast<int>(header.protocol), static_cast<int>(protocol));
  EXPECT_EQ(questionOf(header), question);
  EXPECT_EQ(answer.frame, packet.frame);
}

void expectPuntedOnce(DatapathFixture& datapath, const Packet& packet, std::uint8_t protocol,
                      const Bytes& question) {
  const std::vector<PuntedAnswer> answers = datapath.drainAnswers();
  ASSERT_EQ(answers.size(), 1u);
  expectPunted(datapath, answers[0], packet, protocol, question);
}

// A UDP answer to the host's query, with that query's question.
void expectAnswerPuntedOnce(DatapathFixture& datapath, const TestNetwork& network,
                            const Packet& packet) {
  expectPuntedOnce(datapath, packet, IPPROTO_UDP, hostQuestion(network));
}

// A TCP segment: no question (the queries are in the stream).
void expectSegmentHeldOnce(DatapathFixture& datapath, const Packet& packet) {
  expectPuntedOnce(datapath, packet, IPPROTO_TCP, {});
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

// The connection stays noted (it holds every answer on it), and nothing went to the
// daemon.
auto expectConnectionKeptNothingHeld(const TestNetwork& n) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(datapath.queryDescriptions(),
              (Descriptions{tcpConnectionDescription(n.host, kHostPort)}));
    expectNothingPunted(datapath);
  };
}

// The segment went to the daemon whole, and the connection stays noted for the next.
auto expectHeldConnectionKept(const TestNetwork& n, const Packet& packet) {
  return [=](DatapathFixture& datapath) {
    EXPECT_EQ(datapath.queryDescriptions(),
              (Descriptions{tcpConnectionDescription(n.host, kHostPort)}));
    expectSegmentHeldOnce(datapath, packet);
  };
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

  const auto record_connection = [=](DatapathFixture& datapath) {
    recordHostTcpConnection(datapath, n);
  };
  const Packet tcp_answer = tcpFromResolver(n, kTcpPsh | kTcpAck, tcpAnswerData(n));
  const Packet tcp_answer_with_timestamps =
      tcpFromResolver(n, kTcpPsh | kTcpAck, tcpAnswerData(n), tcpTimestampOptions());
  PacketBuilder displaced_segment = toHost(n, n.resolver).vlan(kVlanId);
  if (v4) {
    displaced_segment.ipv4Options({1, 1, 1, 1});
  } else {
    displaced_segment.hopByHop().destinationOptions();
  }
  const Packet displaced_tcp_answer =
      displaced_segment
          .tcp(kDnsPort, kHostPort, kTcpPsh | kTcpAck, tcpAnswerData(n), tcpTimestampOptions())
          .build();
  // One byte of the stream: the smallest segment with data. Ethernet pads the IPv4
  // frame to its minimum of 60 bytes.
  const Packet one_byte = toHost(n, n.resolver)
                              .tcp(kDnsPort, kHostPort, kTcpPsh | kTcpAck, {0x00})
                              .ethernetPadding(v4 ? 5 : 0)
                              .build();
  const Packet fin_with_data = tcpFromResolver(n, kTcpFin | kTcpPsh | kTcpAck, tcpAnswerData(n));

  std::vector<PacketCase> cases = {
      // Answers from the trusted resolvers.
      // The query stays: the daemon forgets it once the answer's question matches, so
      // a spoofed answer that guessed id and port never costs the client the real one.
      {.description = "answer to a recorded query is punted to the daemon and dropped",
       .packet = answer,
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(),
                       (Descriptions{queryDescription(n.host, kHostPort, kDnsId)}));
             expectAnswerPuntedOnce(datapath, n, answer);
           }},
      {.description = "answer behind a VLAN tag and options is punted with its offsets",
       .packet = displaced,
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = [=](DatapathFixture& datapath) { expectAnswerPuntedOnce(datapath, n, displaced); }},
      {.description = "answer while the daemon's heartbeat is stale passes",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}},
       .check = expectQueryGoneNothingPunted},
      {.description = "answer within a lengthened failsafe timeout is punted",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.setFailsafeNs(60 * kNanosPerSecond);
             datapath.beatAt(datapathNowNs() - 10 * kNanosPerSecond);
           },
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_punted", 1}},
       .check = [=](DatapathFixture& datapath) { expectAnswerPuntedOnce(datapath, n, answer); }},
      {.description = "answer before the daemon's first heartbeat passes",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.beatAt(0);
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}},
       .check = expectQueryGoneNothingPunted},
      // Spoofed or late: never delivered, and the real answer still finds its query.
      {.description = "answer with no query recorded is dropped",
       .packet = answer,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryGoneNothingPunted},
      {.description = "answer with another DNS id is dropped",
       .packet = answerFrom(n, n.resolver, kDnsPort, kHostPort, kOtherDnsId),
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "answer to another client port is dropped",
       .packet = answerFrom(n, n.resolver, kDnsPort, kHostPort + 1),
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "answer to a query another address sent is dropped",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(DatapathFixture::queryKey(n.world, kHostPort, kDnsId),
                               datapathNowNs(), hostQuestion(n));
           },
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(),
                       (Descriptions{queryDescription(n.world, kHostPort, kDnsId)}));
             expectNothingPunted(datapath);
           }},
      {.description = "UDP answer to a port with only a TCP connection noted is dropped",
       .packet = answerFrom(n, n.resolver, kDnsPort, kHostPort, 0),
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "unsolicited answer is dropped while the heartbeat is stale",
       .packet = answer,
       .setup = [](DatapathFixture& datapath) { datapath.beatStale(); },
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryGoneNothingPunted},
      // What comes from a resolver's address and port and answers nothing goes through
      // the same check as an answer: a query, a fragment, a datagram too short to read.
      {.description = "query from a trusted resolver is no answer and is dropped",
       .packet = toHost(n, n.resolver)
                     .udp(kDnsPort, kHostPort, dnsQuery(kDnsId, kName, n.host.family))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "datagram from a trusted resolver too short for a DNS header is dropped",
       .packet = toHost(n, n.resolver).udp(kDnsPort, kHostPort, Bytes{0x12, 0x34, 0x81}).build(),
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      {.description = "first fragment of an answer to no query is dropped",
       .packet = toHost(n, n.resolver)
                     .fragment(0, true)
                     .udp(kDnsPort, kHostPort, dnsAnswer(kOtherDnsId, kName, n.learned))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_answer_unsolicited", 1}},
       .check = expectQueryStillOutstanding(n)},
      // Only the first fragment could be held, and the client would never reassemble
      // it: it passes, installs nothing, and ends its query.
      {.description = "first fragment of an answer to a recorded query passes untouched",
       .packet = toHost(n, n.resolver)
                     .fragment(0, true)
                     .udp(kDnsPort, kHostPort, dnsAnswer(kDnsId, kName, n.learned))
                     .build(),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_fragment", 1}},
       .check = expectQueryGoneNothingPunted},
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
       .check = [=](DatapathFixture& datapath) { expectAnswerPuntedOnce(datapath, n, answer); }},
      {.description = "host not policed lets answers pass and punts nothing",
       .packet = answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostQuery(datapath, n);
             datapath.setFlags(0);
           },
       .verdict = Verdict::kPass,
       .check = expectQueryStillOutstanding(n)},

      // DNS over TCP, on a connection the host opened to a trusted resolver.
      {.description = "TCP segment with an answer is held for the daemon",
       .packet = tcp_answer,
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_tcp_segment_held", 1}},
       .check = expectHeldConnectionKept(n, tcp_answer)},
      {.description = "TCP segment with timestamps and data is held with its offsets",
       .packet = tcp_answer_with_timestamps,
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_tcp_segment_held", 1}},
       .check = expectHeldConnectionKept(n, tcp_answer_with_timestamps)},
      {.description = "TCP segment behind a VLAN tag and options is held with its offsets",
       .packet = displaced_tcp_answer,
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_tcp_segment_held", 1}},
       .check = expectHeldConnectionKept(n, displaced_tcp_answer)},
      {.description = "TCP segment with a single byte of data is held",
       .packet = one_byte,
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_tcp_segment_held", 1}},
       .check = expectHeldConnectionKept(n, one_byte)},
      {.description = "TCP FIN with the last data is held",
       .packet = fin_with_data,
       .setup = record_connection,
       .verdict = Verdict::kDrop,
       .moved = {{"dns_tcp_segment_held", 1}},
       .check = expectHeldConnectionKept(n, fin_with_data)},
      {.description = "TCP SYN ACK from the resolver passes and is not held",
       .packet = tcpFromResolver(n, kTcpSyn | kTcpAck),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP ACK without data passes and is not held",
       .packet = tcpFromResolver(n, kTcpAck),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP ACK with timestamps and no data passes",
       .packet = tcpFromResolver(n, kTcpAck, {}, tcpTimestampOptions()),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP ACK in a padded frame passes: the padding is not data",
       .packet = toHost(n, n.resolver).tcp(kDnsPort, kHostPort, kTcpAck).ethernetPadding(6).build(),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP FIN without data passes",
       .packet = tcpFromResolver(n, kTcpFin | kTcpAck),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP RST passes",
       .packet = tcpFromResolver(n, kTcpRst | kTcpAck),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP data on a connection no policed workload opened passes",
       .packet = tcp_answer,
       .verdict = Verdict::kPass,
       .check =
           [](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.flowDescriptions(), Descriptions{});
             expectQueryGoneNothingPunted(datapath);
           }},
      {.description = "TCP data to another client port passes",
       .packet = toHost(n, n.resolver)
                     .tcp(kDnsPort, kHostPort + 1, kTcpPsh | kTcpAck, tcpAnswerData(n))
                     .build(),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP data to a port with only a UDP query of id 0 noted passes",
       .packet = tcp_answer,
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putQuery(DatapathFixture::queryKey(n.host, kHostPort, 0), datapathNowNs(),
                               hostQuestion(n));
           },
       .verdict = Verdict::kPass,
       .check =
           [=](DatapathFixture& datapath) {
             EXPECT_EQ(datapath.queryDescriptions(),
                       (Descriptions{queryDescription(n.host, kHostPort, 0)}));
             expectNothingPunted(datapath);
           }},
      {.description = "TCP data while the daemon's heartbeat is stale passes",
       .packet = tcp_answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostTcpConnection(datapath, n);
             datapath.beatStale();
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}},
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP data before the daemon's first heartbeat passes",
       .packet = tcp_answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostTcpConnection(datapath, n);
             datapath.beatAt(0);
           },
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_failsafe", 1}},
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "first fragment of a TCP segment passes untouched",
       .packet = toHost(n, n.resolver)
                     .fragment(0, true)
                     .tcp(kDnsPort, kHostPort, kTcpPsh | kTcpAck, tcpAnswerData(n))
                     .build(),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .moved = {{"dns_answer_fragment", 1}},
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP data the daemon re-injected passes",
       .packet = tcp_answer,
       .context = {.mark = DatapathFixture::kReinjectMark},
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .moved = {{"reinjected_seen", 1}},
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "TCP data from a resolver address on another port is not held",
       .packet =
           toHost(n, n.resolver).tcp(5353, kHostPort, kTcpPsh | kTcpAck, tcpAnswerData(n)).build(),
       .setup = record_connection,
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},
      {.description = "host not policed lets TCP data pass",
       .packet = tcp_answer,
       .setup =
           [=](DatapathFixture& datapath) {
             recordHostTcpConnection(datapath, n);
             datapath.setFlags(0);
           },
       .verdict = Verdict::kPass,
       .check = expectConnectionKeptNothingHeld(n)},

      // Answers from elsewhere are just datagrams: with no socket to receive them (the
      // query's socket is not in this test's namespace), they open no flow either.
      {.description = "answer from an untrusted address passes and is not punted",
       .packet = answerFrom(n, n.denied, kDnsPort),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"inbound_no_receiver", 1}},
       .check = all(expectQueryStillOutstanding(n), expectFlows({}))},
      {.description = "answer from a resolver address on another port is not punted",
       .packet = answerFrom(n, n.resolver, 5353),
       .setup = record_query,
       .verdict = Verdict::kPass,
       .moved = {{"inbound_no_receiver", 1}},
       .check = all(expectQueryStillOutstanding(n), expectFlows({}))},

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
      // A datagram opens a flow only when a local socket receives it: one to a closed
      // port must not make a hole for the host to send through.
      {.description = "inbound UDP datagram to a bound socket opens an inbound flow",
       .packet = toHost(n, n.world).udp(kWorldPort, kHostPort, Bytes(16, 0)).build(),
       .setup =
           [=](DatapathFixture& datapath) { datapath.bindSocket(SOCK_DGRAM, n.host, kHostPort); },
       .verdict = Verdict::kPass,
       .moved = {{"ingress_flow_recorded", 1}},
       .check = expectFlows({flowDescription(IPPROTO_UDP, n.host, kHostPort, n.world, kWorldPort,
                                             SKOUTER_FLOW_INBOUND)})},
      {.description = "inbound UDP datagram to a closed port opens no flow",
       .packet = toHost(n, n.world).udp(kWorldPort, kHostPort, Bytes(16, 0)).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             // Another port, and the same port of another protocol, receive nothing of it.
             datapath.bindSocket(SOCK_DGRAM, n.host, kHostPort + 1);
             datapath.bindSocket(SOCK_STREAM, n.host, kHostPort);
           },
       .verdict = Verdict::kPass,
       .moved = {{"inbound_no_receiver", 1}},
       .check = expectFlows({})},
      {.description = "reply of an outbound flow refreshes it and opens none",
       .packet = toHost(n, n.learned).tcp(kHttpsPort, kHostPort, kTcpSyn | kTcpAck).build(),
       .setup =
           [=](DatapathFixture& datapath) {
             datapath.putFlow(outbound_flow, SKOUTER_FLOW_OUTBOUND,
                              datapathNowNs() - DatapathFixture::kFlowIdleNs / 2);
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

// In a network namespace of the test's own: whether an inbound datagram opens a flow
// depends on the sockets there, and the machine's own must not decide a case.
class UplinkIngressTest : public PacketCaseTest {
 protected:
  void SetUp() override {
    PacketCaseTest::SetUp();
    usePrivateNetworkNamespace();
  }
};

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
  EXPECT_EQ(counters(),
            (HookCounters{{"uplink_egress", {{"egress_denied", 1}, {"egress_allowed_flow", 1}}},
                          {"uplink_ingress", {{"ingress_flow_recorded", 1}}}}));
}

TEST_P(UplinkSequenceTest, InboundEchoRequestLetsTheEchoReplyOut) {
  const TestNetwork& n = network();
  const Packet reply = PacketBuilder(n.host, n.world).echoReply(kEchoId).build();
  ASSERT_EQ(runUplinkEgress(reply), Verdict::kDrop);

  EXPECT_EQ(runUplinkIngress(toHost(n, n.world).echoRequest(kEchoId).build()), Verdict::kPass);
  EXPECT_EQ(runUplinkEgress(reply), Verdict::kPass);
  EXPECT_EQ(counters(),
            (HookCounters{{"uplink_egress", {{"egress_denied", 1}, {"egress_allowed_flow", 1}}},
                          {"uplink_ingress", {{"ingress_flow_recorded", 1}}}}));
}

TEST_P(UplinkSequenceTest, InboundAckLetsNothingOut) {
  const TestNetwork& n = network();
  EXPECT_EQ(runUplinkIngress(toHost(n, n.world).tcp(kWorldPort, kSshPort, kTcpAck).build()),
            Verdict::kPass);
  EXPECT_EQ(
      runUplinkEgress(PacketBuilder(n.host, n.world).tcp(kSshPort, kWorldPort, kTcpAck).build()),
      Verdict::kDrop);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress", {{"egress_denied", 1}}}}));
}

TEST_P(UplinkSequenceTest, QueryNotedOnEgressHoldsItsAnswerOnIngress) {
  const TestNetwork& n = network();
  const Packet query =
      PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, hostQueryMessage(n)).build();
  ASSERT_EQ(runUplinkEgress(query), Verdict::kPass);

  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  // The daemon gets the question exactly as the query asked it.
  expectPuntedOnce(*this, answer, IPPROTO_UDP, hostQuestion(n));
  // The daemon forgets the query once the answer matches it (question included); until
  // then another answer is held too, for the daemon to tell which matches.
  EXPECT_EQ(queryDescriptions(), (Descriptions{queryDescription(n.host, kHostPort, kDnsId)}));
  const Packet spoofed = answerFrom(n, n.resolver, kDnsPort);
  EXPECT_EQ(runUplinkIngress(spoofed), Verdict::kDrop);
  expectPuntedOnce(*this, spoofed, IPPROTO_UDP, hostQuestion(n));

  // Once the daemon forgot it, a further copy (a resolver's retransmission, or a
  // spoofed one racing the real answer) finds no query: it never reaches the client.
  ASSERT_TRUE(datapath().dnsQueries().erase(DatapathFixture::queryKey(n.host, kHostPort, kDnsId)));
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  expectNothingPunted(*this);
  EXPECT_EQ(counters(),
            (HookCounters{
                {"uplink_egress", {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}},
                {"uplink_ingress", {{"dns_answer_punted", 2}, {"dns_answer_unsolicited", 1}}}}));
}

// A query forwarded through the node (from a pod behind its NAT) leaves with the host's
// address; its answer comes back to the host's address. It must pass untouched, not be
// dropped as unsolicited, and not be held: nobody polices it here.
TEST_P(UplinkSequenceTest, ForwardedQueryLetsItsAnswerThroughUnheld) {
  const TestNetwork& n = network();
  const Packet query =
      PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, hostQueryMessage(n)).build();
  setInterfaceKind(kForwardedIfindex, SKOUTER_INTERFACE_POD);
  ASSERT_EQ(runUplinkEgress(query, kForwarded), Verdict::kPass);

  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kPass);
  expectNothingPunted(*this);
  // Answered once: a second copy is unsolicited.
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_egress", {{"dns_query_recorded", 1}}},
                                      {"uplink_ingress", {{"dns_answer_unsolicited", 1}}}}));
}

// The question bytes the ring record carries for the answer to `query`.
Bytes questionPuntedFor(DatapathFixture& datapath, const TestNetwork& n, const Packet& query) {
  EXPECT_EQ(datapath.runUplinkEgress(query), Verdict::kPass);
  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  EXPECT_EQ(datapath.runUplinkIngress(answer), Verdict::kDrop);
  const std::vector<PuntedAnswer> answers = datapath.drainAnswers();
  if (answers.size() != 1) {
    ADD_FAILURE() << answers.size() << " answers punted";
    return {};
  }
  return questionOf(answers[0].header);
}

TEST_P(UplinkSequenceTest, QueryWithEdnsKeepsEverythingAfterItsHeader) {
  const TestNetwork& n = network();
  const Bytes message = withEdns(hostQueryMessage(n));
  const Packet query = PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, message).build();
  // The question section, then the 11 bytes of the OPT record.
  EXPECT_EQ(questionPuntedFor(*this, n, query), afterDnsHeader(message));
}

TEST_P(UplinkSequenceTest, QuestionBeyondTheLimitIsCutAtTheLimit) {
  const TestNetwork& n = network();
  // A name of 253 characters, the longest there is: 255 bytes in wire form. With its
  // type, class and an OPT record the bytes after the header run past the limit.
  const std::string label(62, 'a');
  const std::string longest = label + "." + label + "." + label + "." + label + ".a";
  ASSERT_EQ(longest.size(), 253u);
  const Bytes message = withEdns(dnsQuery(kDnsId, longest, n.host.family));
  ASSERT_GT(afterDnsHeader(message).size(), std::size_t{SKOUTER_MAX_QUESTION});
  const Packet query = PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, message).build();

  const Bytes kept = questionPuntedFor(*this, n, query);
  const Bytes after_header = afterDnsHeader(message);
  EXPECT_EQ(kept, Bytes(after_header.begin(), after_header.begin() + SKOUTER_MAX_QUESTION));
}

TEST_P(UplinkSequenceTest, QueryInAPaddedFrameKeepsOnlyTheDatagramsBytes) {
  const TestNetwork& n = network();
  // A short name: the frame gets Ethernet padding (and a trailer) past the datagram.
  const Bytes message = dnsQuery(kDnsId, "a.io", n.host.family);
  const Packet query = PacketBuilder(n.host, n.resolver)
                           .udp(kHostPort, kDnsPort, message)
                           .ethernetPadding(24)
                           .build();
  EXPECT_EQ(questionPuntedFor(*this, n, query), afterDnsHeader(message));
}

TEST_P(UplinkSequenceTest, QueryOnAnotherPortDoesNotLendItsQuestion) {
  const TestNetwork& n = network();
  // Two outstanding queries of the host; each answer carries its own query's question.
  const Bytes other = dnsQuery(kOtherDnsId, "other.example.org", n.host.family);
  ASSERT_EQ(
      runUplinkEgress(
          PacketBuilder(n.host, n.resolver).udp(kHostPort + 1, kDnsPort, withEdns(other)).build()),
      Verdict::kPass);
  ASSERT_EQ(
      runUplinkEgress(
          PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, hostQueryMessage(n)).build()),
      Verdict::kPass);

  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  ASSERT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  expectPuntedOnce(*this, answer, IPPROTO_UDP, hostQuestion(n));
  const Packet other_answer =
      toHost(n, n.resolver)
          .udp(kDnsPort, kHostPort + 1, dnsAnswer(kOtherDnsId, "other.example.org", n.learned))
          .build();
  ASSERT_EQ(runUplinkIngress(other_answer), Verdict::kDrop);
  expectPuntedOnce(*this, other_answer, IPPROTO_UDP, afterDnsHeader(withEdns(other)));
}

TEST_P(UplinkSequenceTest, TcpConnectionNotedOnEgressHoldsTheResolversData) {
  const TestNetwork& n = network();
  const auto to_resolver = [&](std::uint8_t flags, Bytes payload = {}) {
    return PacketBuilder(n.host, n.resolver)
        .tcp(kHostPort, kDnsPort, flags, std::move(payload))
        .build();
  };
  ASSERT_EQ(runUplinkEgress(to_resolver(kTcpSyn)), Verdict::kPass);
  EXPECT_EQ(queryDescriptions(), (Descriptions{tcpConnectionDescription(n.host, kHostPort)}));
  EXPECT_EQ(runUplinkIngress(tcpFromResolver(n, kTcpSyn | kTcpAck)), Verdict::kPass);
  // The resolver's initial sequence number: its stream is read from the byte after.
  const auto connection =
      datapath().dnsQueries().lookup(DatapathFixture::tcpConnectionKey(n.host, kHostPort));
  ASSERT_TRUE(connection.has_value());
  EXPECT_EQ(connection->flags, SKOUTER_CONNECTION_STARTED);
  EXPECT_EQ(Bytes(connection->question, connection->question + 4), (Bytes{0, 0, 0x03, 0xe8}))
      << "the builder's sequence number, 1000";
  ASSERT_EQ(runUplinkEgress(to_resolver(kTcpAck)), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(to_resolver(kTcpPsh | kTcpAck, tcpFramed(hostQueryMessage(n)))),
            Verdict::kPass);

  // The answer comes in two segments; both are held.
  const Bytes data = tcpAnswerData(n);
  const Packet first = tcpFromResolver(n, kTcpAck, Bytes(data.begin(), data.begin() + 10));
  const Packet second = tcpFromResolver(n, kTcpPsh | kTcpAck, Bytes(data.begin() + 10, data.end()));
  EXPECT_EQ(runUplinkIngress(first), Verdict::kDrop);
  EXPECT_EQ(runUplinkIngress(second), Verdict::kDrop);
  const std::vector<PuntedAnswer> held = drainAnswers();
  ASSERT_EQ(held.size(), 2u);
  expectPunted(*this, held[0], first, IPPROTO_TCP, {});
  expectPunted(*this, held[1], second, IPPROTO_TCP, {});
  EXPECT_EQ(held[0].header.flags, SKOUTER_CONNECTION_STARTED);

  // The client's ACK and the resolver's FIN close the connection; nothing more is held.
  ASSERT_EQ(runUplinkEgress(to_resolver(kTcpAck)), Verdict::kPass);
  EXPECT_EQ(runUplinkIngress(tcpFromResolver(n, kTcpFin | kTcpAck)), Verdict::kPass);
  expectNothingPunted(*this);
  // One connection, noted once however many packets it had, and its query, which the
  // daemon forgets once the answer matches it.
  EXPECT_EQ(queryDescriptions(), (Descriptions{tcpConnectionDescription(n.host, kHostPort),
                                               tcpQueryDescription(n.host, kHostPort, kDnsId)}));
  EXPECT_EQ(
      counters(),
      (HookCounters{{"uplink_egress", {{"egress_allowed_resolver", 4}, {"dns_query_recorded", 2}}},
                    {"uplink_ingress", {{"dns_tcp_segment_held", 2}}}}));
}

TEST_P(UplinkSequenceTest, FailOpenWithADeadDaemonKeepsDnsWorking) {
  const TestNetwork& n = network();
  setFlags(SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_FAIL_OPEN);
  beatStale();

  // Everything leaves the host while the daemon is away...
  EXPECT_EQ(
      runUplinkEgress(PacketBuilder(n.host, n.denied).tcp(kHostPort, kHttpsPort, kTcpSyn).build()),
      Verdict::kPass);
  // ...and the answers to its queries must come back: failing open must not take DNS
  // down with it.
  ASSERT_EQ(
      runUplinkEgress(
          PacketBuilder(n.host, n.resolver).udp(kHostPort, kDnsPort, hostQueryMessage(n)).build()),
      Verdict::kPass);
  EXPECT_EQ(runUplinkIngress(answerFrom(n, n.resolver, kDnsPort)), Verdict::kPass);
  expectNothingPunted(*this);
  EXPECT_EQ(
      counters(),
      (HookCounters{
          {"uplink_egress",
           {{"egress_fail_open", 1}, {"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}},
          {"uplink_ingress", {{"dns_answer_failsafe", 1}, {"dns_answer_not_learned", 1}}}}));
}

// A frame the ring buffer has no room for is dropped: a UDP answer's query stays noted
// so the client's retry is held once there is room; TCP retransmits the segment.
TEST_P(UplinkSequenceTest, FullRingDropsWhatItCannotHoldAndTheRetryIsHeld) {
  const TestNetwork& n = network();
  recordHostTcpConnection(*this, n);
  const auto ring_full = [&] {
    const Counters now = counters(SKOUTER_HOOK_UPLINK_INGRESS);
    const auto found = now.find("dns_answer_ringbuf_full");
    return found == now.end() ? std::uint64_t{0} : found->second;
  };
  // Fills the ring with `segment` until it refuses one.
  const auto fill_with = [&](const Packet& segment) {
    const std::uint64_t refused = ring_full();
    for (int i = 0; i < 100000 && ring_full() == refused; ++i) {
      ASSERT_EQ(runUplinkIngress(segment), Verdict::kDrop);
    }
    ASSERT_EQ(ring_full(), refused + 1) << "the ring never filled";
  };
  // 8 MiB of the largest records a test can make, then of the smallest, so not even a
  // small answer fits.
  const std::size_t overhead = tcpFromResolver(n, kTcpPsh | kTcpAck).frame.size();
  fill_with(tcpFromResolver(n, kTcpPsh | kTcpAck, Bytes(largestTestRunFrame() - overhead, 0x5a)));
  fill_with(tcpFromResolver(n, kTcpPsh | kTcpAck, {0x00}));
  const std::uint64_t held = counters(SKOUTER_HOOK_UPLINK_INGRESS).at("dns_tcp_segment_held");

  recordHostQuery(*this, n);
  const Packet answer = answerFrom(n, n.resolver, kDnsPort);
  const HookCounters before = counters();
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  EXPECT_EQ(countersMoved(before, counters()),
            (HookCounters{{"uplink_ingress", {{"dns_answer_ringbuf_full", 1}}}}));
  EXPECT_EQ(queryDescriptions(), (Descriptions{tcpConnectionDescription(n.host, kHostPort),
                                               queryDescription(n.host, kHostPort, kDnsId)}));

  // The daemon reads the ring; the client's retry gets the answer held.
  EXPECT_EQ(drainAnswers().size(), held);
  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  expectAnswerPuntedOnce(*this, n, answer);
  EXPECT_EQ(queryDescriptions(), (Descriptions{tcpConnectionDescription(n.host, kHostPort),
                                               queryDescription(n.host, kHostPort, kDnsId)}));
}

INSTANTIATE_TEST_SUITE_P(Families, UplinkSequenceTest,
                         ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

// Frames as large as BPF_PROG_TEST_RUN lets a test make are held whole. (The datapath
// holds up to SKOUTER_MAX_FRAME; the kernel caps test frames at about a page, well
// below it, so the largest the kernel accepts is what can be shown here.)
class LargeFrameTest : public DatapathFixture,
                       public ::testing::WithParamInterface<const TestNetwork*> {};

TEST_P(LargeFrameTest, LargestTcpSegmentIsHeldWhole) {
  const TestNetwork& n = *GetParam();
  installPolicy(n);
  recordHostTcpConnection(*this, n);
  const std::size_t largest = largestTestRunFrame();
  RecordProperty("largest_test_run_frame", static_cast<int>(largest));
  // At least a full Ethernet frame of a 1500-byte MTU.
  ASSERT_GE(largest, 1514u);
  const std::size_t overhead = tcpFromResolver(n, kTcpPsh | kTcpAck).frame.size();
  Bytes payload(largest - overhead);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
  const Packet segment = tcpFromResolver(n, kTcpPsh | kTcpAck, payload);
  ASSERT_EQ(segment.frame.size(), largest);

  EXPECT_EQ(runUplinkIngress(segment), Verdict::kDrop);
  expectSegmentHeldOnce(*this, segment);
  EXPECT_EQ(counters(), (HookCounters{{"uplink_ingress", {{"dns_tcp_segment_held", 1}}}}));
}

TEST_P(LargeFrameTest, LargestUdpAnswerIsPuntedWhole) {
  const TestNetwork& n = *GetParam();
  installPolicy(n);
  recordHostQuery(*this, n);
  const std::size_t largest = largestTestRunFrame();
  // The answer, then padding to the size (as an EDNS answer with many records would be
  // that large).
  Bytes dns = dnsAnswer(kDnsId, kName, n.learned);
  const std::size_t overhead = answerFrom(n, n.resolver, kDnsPort).frame.size();
  dns.resize(dns.size() + largest - overhead, 0x33);
  const Packet answer = toHost(n, n.resolver).udp(kDnsPort, kHostPort, dns).build();
  ASSERT_EQ(answer.frame.size(), largest);

  EXPECT_EQ(runUplinkIngress(answer), Verdict::kDrop);
  expectAnswerPuntedOnce(*this, n, answer);
}

INSTANTIATE_TEST_SUITE_P(Families, LargeFrameTest,
                         ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
