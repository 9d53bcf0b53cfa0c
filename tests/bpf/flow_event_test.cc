// uplink_egress: the events ring buffer, on which the datapath reports each dropped
// new flow and, once, each flow that audit let through.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kEchoId = 0x4242;
constexpr std::uint32_t kHttpsOnly = 1;

std::string verdictName(std::uint8_t verdict) {
  switch (verdict) {
    case SKOUTER_EVENT_DENIED:
      return "denied";
    case SKOUTER_EVENT_AUDITED:
      return "audited";
  }
  return "verdict " + std::to_string(verdict);
}

std::string addressText(std::uint8_t family, const std::uint8_t* bytes) {
  switch (family) {
    case SKOUTER_FAMILY_IPV4:
      // The rest of the 16 bytes is zero.
      if (std::any_of(bytes + 4, bytes + 16, [](std::uint8_t b) { return b != 0; })) {
        return IpAddress::fromV4(bytes).toString() + "(junk after it)";
      }
      return IpAddress::fromV4(bytes).toString();
    case SKOUTER_FAMILY_IPV6:
      return IpAddress::fromV6(bytes).toString();
  }
  return "family " + std::to_string(family);
}

// "denied identity 1 TCP 192.0.2.10 > 198.51.100.99 port 443"; the port as the event
// holds it in network order, converted.
std::string eventDescription(const skouter_flow_event& event) {
  return verdictName(event.verdict) + " identity " + std::to_string(event.identity) + " " +
         ipProtocolName(event.protocol) + " " + addressText(event.family, event.saddr) + " > " +
         addressText(event.family, event.daddr) + " port " + std::to_string(ntohs(event.dport));
}

std::string eventDescription(skouter_event_verdict verdict, std::uint8_t protocol,
                             const IpAddress& source, const IpAddress& destination,
                             std::uint16_t port) {
  return verdictName(verdict) + " identity " + std::to_string(SKOUTER_HOST_IDENTITY) + " " +
         ipProtocolName(protocol) + " " + source.toString() + " > " + destination.toString() +
         " port " + std::to_string(port);
}

class FlowEventTest : public DatapathFixture,
                      public ::testing::WithParamInterface<const TestNetwork*> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    installPolicy(network());
    // Each test has a bpffs of its own, so nothing should be waiting; drained anyway so
    // that a left-over record could never be taken for one of this test.
    EXPECT_EQ(drainEvents().size(), 0u);
  }

  const TestNetwork& network() const { return *GetParam(); }

  Packet synTo(const IpAddress& destination, std::uint16_t port = kHttpsPort) const {
    return PacketBuilder(network().host, destination).tcp(kHostPort, port, kTcpSyn).build();
  }
  Packet ackTo(const IpAddress& destination) const {
    return PacketBuilder(network().host, destination).tcp(kHostPort, kHttpsPort, kTcpAck).build();
  }

  // The events waiting, described, consumed; each stamped during the test with its
  // padding zero.
  std::vector<std::string> events() {
    std::vector<std::string> result;
    for (const skouter_flow_event& event : drainEvents()) {
      expectStampedDuringTest(event.time_ns);
      EXPECT_EQ(event.pad, 0u);
      EXPECT_EQ(event.pad2, 0u);
      EXPECT_EQ(event.pad3, 0u);
      result.push_back(eventDescription(event));
    }
    return result;
  }

  std::string denied(std::uint8_t protocol, const IpAddress& to, std::uint16_t port) const {
    return eventDescription(SKOUTER_EVENT_DENIED, protocol, network().host, to, port);
  }
  std::string audited(std::uint8_t protocol, const IpAddress& to, std::uint16_t port) const {
    return eventDescription(SKOUTER_EVENT_AUDITED, protocol, network().host, to, port);
  }
};

using Events = std::vector<std::string>;

TEST_P(FlowEventTest, ADroppedNewFlowEmitsOneDeniedEvent) {
  const TestNetwork& n = network();
  ASSERT_EQ(runUplinkEgress(synTo(n.denied)), Verdict::kDrop);

  const std::vector<skouter_flow_event> raw = drainEvents();
  ASSERT_EQ(raw.size(), 1u);
  const skouter_flow_event& event = raw[0];
  EXPECT_EQ(event.identity, static_cast<std::uint32_t>(SKOUTER_HOST_IDENTITY));
  EXPECT_EQ(event.verdict, SKOUTER_EVENT_DENIED);
  EXPECT_EQ(event.family,
            n.host.family == IpFamily::kV4 ? SKOUTER_FAMILY_IPV4 : SKOUTER_FAMILY_IPV6);
  EXPECT_EQ(event.protocol, IPPROTO_TCP);
  EXPECT_EQ(event.dport, htons(kHttpsPort));
  const skouter_addr source = [&] {
    skouter_addr addr{};
    std::copy(n.host.bytes.begin(), n.host.bytes.begin() + n.host.size(), addr.addr);
    return addr;
  }();
  const skouter_addr destination = [&] {
    skouter_addr addr{};
    std::copy(n.denied.bytes.begin(), n.denied.bytes.begin() + n.denied.size(), addr.addr);
    return addr;
  }();
  EXPECT_TRUE(std::equal(event.saddr, event.saddr + 16, source.addr));
  EXPECT_TRUE(std::equal(event.daddr, event.daddr + 16, destination.addr));
  expectStampedDuringTest(event.time_ns);
  EXPECT_EQ(drainEvents().size(), 0u) << "consumed";
}

TEST_P(FlowEventTest, EachDroppedPacketEmitsAnEvent) {
  const TestNetwork& n = network();
  // A retransmitted SYN is dropped again, and reported again.
  ASSERT_EQ(runUplinkEgress(synTo(n.denied)), Verdict::kDrop);
  ASSERT_EQ(runUplinkEgress(synTo(n.denied)), Verdict::kDrop);
  ASSERT_EQ(runUplinkEgress(synTo(n.outside_cidr, 80)), Verdict::kDrop);
  EXPECT_EQ(events(), (Events{denied(IPPROTO_TCP, n.denied, kHttpsPort),
                              denied(IPPROTO_TCP, n.denied, kHttpsPort),
                              denied(IPPROTO_TCP, n.outside_cidr, 80)}));
}

TEST_P(FlowEventTest, OtherProtocolsAreReportedWithTheirPortOrNone) {
  const TestNetwork& n = network();
  const PacketBuilder to_denied(n.host, n.denied);
  ASSERT_EQ(runUplinkEgress(PacketBuilder(to_denied).udp(kHostPort, 5000).build()), Verdict::kDrop);
  ASSERT_EQ(runUplinkEgress(PacketBuilder(to_denied).sctp(kHostPort, 3868).build()),
            Verdict::kDrop);
  // The echo identifier stands in for the source port in the flow table; it is no
  // destination port.
  ASSERT_EQ(runUplinkEgress(PacketBuilder(to_denied).echoRequest(kEchoId).build()), Verdict::kDrop);
  // A later fragment has no ports at all.
  ASSERT_EQ(runUplinkEgress(PacketBuilder(to_denied)
                                .fragment(1480, false)
                                .fragmentData(IPPROTO_UDP, Bytes(64, 0xab))
                                .build()),
            Verdict::kDrop);
  EXPECT_EQ(
      events(),
      (Events{denied(IPPROTO_UDP, n.denied, 5000), denied(IPPROTO_SCTP, n.denied, 3868),
              denied(icmpProtocol(n.host.family), n.denied, 0), denied(IPPROTO_UDP, n.denied, 0)}));
}

TEST_P(FlowEventTest, AWrongPortIsReportedAsDenied) {
  const TestNetwork& n = network();
  putPortSet(kHttpsOnly, {portRange(IPPROTO_TCP, kHttpsPort, kHttpsPort)});
  allowIp(n.learned, 0, kHttpsOnly);
  ASSERT_EQ(runUplinkEgress(synTo(n.learned, 80)), Verdict::kDrop);
  ASSERT_EQ(runUplinkEgress(synTo(n.learned, kHttpsPort)), Verdict::kPass);
  EXPECT_EQ(events(), (Events{denied(IPPROTO_TCP, n.learned, 80)}));
}

TEST_P(FlowEventTest, AllowedTrafficEmitsNothing) {
  const TestNetwork& n = network();
  ASSERT_EQ(runUplinkEgress(synTo(n.learned)), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(ackTo(n.learned)), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(synTo(n.static_ip)), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(synTo(n.in_cidr)), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(PacketBuilder(n.host, n.resolver)
                                .udp(kHostPort, kDnsPort, dnsQuery(1, "example.com", n.host.family))
                                .build()),
            Verdict::kPass);
  // An error about a connection the world opened goes back to it, whatever the policy
  // says of its address.
  ASSERT_EQ(runUplinkIngress(PacketBuilder(n.world, n.host).tcp(50000, 22, kTcpSyn).build()),
            Verdict::kPass);
  const Packet from_world = PacketBuilder(n.world, n.host).tcp(50000, 22, kTcpAck).build();
  ASSERT_EQ(runUplinkEgress(
                PacketBuilder(n.host, n.world).destinationUnreachable(quoteOf(from_world)).build()),
            Verdict::kPass);
  EXPECT_EQ(events(), Events{});
  EXPECT_EQ(counters(SKOUTER_HOOK_UPLINK_EGRESS).count("egress_denied"), 0u);
}

TEST_P(FlowEventTest, ForwardedAndUnparseablePacketsEmitNothing) {
  const TestNetwork& n = network();
  // Forwarded from a pod's interface: the pod programs judged (and reported) it there.
  setInterfaceKind(kForwardedIfindex, SKOUTER_INTERFACE_POD);
  ASSERT_EQ(runUplinkEgress(synTo(n.denied), kForwarded), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(PacketBuilder(n.host, n.denied)
                                .tcp(kHostPort, kHttpsPort, kTcpSyn)
                                .truncateUpperLayerTo(10)
                                .build()),
            Verdict::kDrop);
  setFlags(0);  // nothing policed
  ASSERT_EQ(runUplinkEgress(synTo(n.denied)), Verdict::kPass);
  EXPECT_EQ(events(), Events{});
}

TEST_P(FlowEventTest, AnAuditedFlowIsReportedOnceWhenItOpens) {
  const TestNetwork& n = network();
  for (const std::uint32_t flag : {SKOUTER_CFG_AUDIT, SKOUTER_CFG_HOST_AUDIT}) {
    SCOPED_TRACE(flag == SKOUTER_CFG_AUDIT ? "audit" : "host audit");
    // A destination of its own for each flag, so the second finds no flow.
    const IpAddress& to = flag == SKOUTER_CFG_AUDIT ? n.denied : n.outside_cidr;
    setFlags(SKOUTER_CFG_HOST_POLICED | flag);
    ASSERT_EQ(runUplinkEgress(synTo(to)), Verdict::kPass);
    EXPECT_EQ(events(), (Events{audited(IPPROTO_TCP, to, kHttpsPort)}));
    // The rest of the flow passes as a flow, unreported.
    ASSERT_EQ(runUplinkEgress(ackTo(to)), Verdict::kPass);
    ASSERT_EQ(runUplinkEgress(ackTo(to)), Verdict::kPass);
    EXPECT_EQ(events(), Events{});

    // Once the audit ends, the flow's next packet is denied, and reported as such.
    setFlags(SKOUTER_CFG_HOST_POLICED);
    ASSERT_EQ(runUplinkEgress(ackTo(to)), Verdict::kDrop);
    EXPECT_EQ(events(), (Events{denied(IPPROTO_TCP, to, kHttpsPort)}));
  }
}

TEST_P(FlowEventTest, AnAuditedPacketWithoutAFlowIsReportedEachTime) {
  const TestNetwork& n = network();
  setFlags(SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT);
  // A later fragment has no ports, so no flow remembers it.
  const Packet fragment = PacketBuilder(n.host, n.denied)
                              .fragment(1480, false)
                              .fragmentData(IPPROTO_UDP, Bytes(64, 0xab))
                              .build();
  ASSERT_EQ(runUplinkEgress(fragment), Verdict::kPass);
  ASSERT_EQ(runUplinkEgress(fragment), Verdict::kPass);
  EXPECT_EQ(events(),
            (Events{audited(IPPROTO_UDP, n.denied, 0), audited(IPPROTO_UDP, n.denied, 0)}));
}

// A daemon that falls behind loses events, never packets: the drop is still a drop,
// and each lost event is counted.
TEST_P(FlowEventTest, AFullRingCountsTheEventsItLoses) {
  const TestNetwork& n = network();
  const Packet packet = synTo(n.denied);
  constexpr std::uint32_t kRuns = 20000;  // more events than 1 MiB holds
  LIBBPF_OPTS(bpf_test_run_opts, options, .data_in = packet.frame.data(),
              .data_size_in = static_cast<std::uint32_t>(packet.frame.size()), .repeat = kRuns);
  ASSERT_EQ(bpf_prog_test_run_opts(datapath().uplinkEgressProgramFd(), &options), 0);
  EXPECT_EQ(static_cast<Verdict>(static_cast<int>(options.retval)), Verdict::kDrop);

  EXPECT_EQ(counters().size(), 1u) << "only uplink_egress counts";
  const Counters after = counters(SKOUTER_HOOK_UPLINK_EGRESS);
  ASSERT_EQ(after.count("egress_denied"), 1u);
  EXPECT_EQ(after.at("egress_denied"), kRuns);
  ASSERT_EQ(after.count("event_ringbuf_full"), 1u);
  const std::uint64_t lost = after.at("event_ringbuf_full");
  const std::size_t kept = drainEvents().size();
  EXPECT_GT(kept, 0u);
  EXPECT_GT(lost, 0u);
  EXPECT_EQ(kept + lost, kRuns);

  // Drained, the ring takes events again.
  ASSERT_EQ(runUplinkEgress(packet), Verdict::kDrop);
  EXPECT_EQ(events(), (Events{denied(IPPROTO_TCP, n.denied, kHttpsPort)}));
  EXPECT_EQ(counters(SKOUTER_HOOK_UPLINK_EGRESS).at("event_ringbuf_full"), lost);
}

INSTANTIATE_TEST_SUITE_P(Families, FlowEventTest, ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
