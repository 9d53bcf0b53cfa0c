// pod_ingress and pod_egress: a pod's traffic, judged at its host-side interface by
// the identity of its address, and the DNS answers held on their way into the pod.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint16_t kPodPort = 41000;
constexpr std::uint16_t kDnsId = 0x2a2a;

class PodTest : public DatapathFixture, public ::testing::WithParamInterface<const TestNetwork*> {
 protected:
  const TestNetwork& n() const { return *GetParam(); }
  // A pod beside the host, in the same documentation range.
  IpAddress pod() const {
    return *IpAddress::parse(n().host.family == IpFamily::kV4 ? "192.0.2.70" : "2001:db8::70");
  }
  Packet synTo(const IpAddress& destination, std::uint16_t port = 443) const {
    return PacketBuilder(pod(), destination).tcp(kPodPort, port, kTcpSyn).build();
  }
  std::uint64_t inAnHour() const { return datapathNowNs() + 3600 * kNanosPerSecond; }
};

TEST_P(PodTest, APodIsJudgedByItsOwnPolicyNotTheHosts) {
  addIdentity(pod(), kPod);
  allowIpFor(kPod, n().learned, inAnHour());
  allowIp(n().denied, inAnHour());  // the host's, not the pod's

  EXPECT_EQ(runPodIngress(synTo(n().learned)), Verdict::kPass);
  const auto flows = this->flows();
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].first.identity, kPod);

  drainEvents();
  EXPECT_EQ(runPodIngress(synTo(n().denied)), Verdict::kDrop);
  const auto events = drainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].identity, kPod);
  EXPECT_EQ(events[0].verdict, SKOUTER_EVENT_DENIED);
  // And the host is not judged by the pod's policy: the address the pod may not reach,
  // the host may.
  EXPECT_EQ(
      runUplinkEgress(PacketBuilder(n().host, n().denied).tcp(kPodPort, 443, kTcpSyn).build()),
      Verdict::kPass);
}

TEST_P(PodTest, ASourceThatIsNoPodsAddressIsDroppedUnlessAuditing) {
  addIdentity(pod(), kPod);
  allowIpFor(kPod, n().learned, inAnHour());
  const Packet spoofed = PacketBuilder(n().world, n().learned).tcp(kPodPort, 443, kTcpSyn).build();
  HookCounters before = counters();
  EXPECT_EQ(runPodIngress(spoofed), Verdict::kDrop);
  EXPECT_EQ(countersMoved(before, counters()),
            (HookCounters{{"pod_ingress", {{"pod_unknown_source", 1}}}}));
  setFlags(SKOUTER_CFG_AUDIT);
  EXPECT_EQ(runPodIngress(spoofed), Verdict::kPass);
}

TEST_P(PodTest, DhcpPassesBeforeThePodHasAnAddress) {
  const bool v4 = n().host.family == IpFamily::kV4;
  const IpAddress unassigned = *IpAddress::parse(v4 ? "0.0.0.0" : "fe80::70");
  const IpAddress server = *IpAddress::parse(v4 ? "255.255.255.255" : "ff02::1:2");
  const Packet dhcp =
      PacketBuilder(unassigned, server).udp(v4 ? 68 : 546, v4 ? 67 : 547, Bytes(40, 0)).build();
  EXPECT_EQ(runPodIngress(dhcp), Verdict::kPass);
}

TEST_P(PodTest, AnAuditedPodPassesWhatItsPolicyDeniesAndReportsIt) {
  addIdentity(pod(), kPod, SKOUTER_IDENTITY_AUDIT);
  drainEvents();
  EXPECT_EQ(runPodIngress(synTo(n().denied)), Verdict::kPass);
  const auto events = drainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].identity, kPod);
  EXPECT_EQ(events[0].verdict, SKOUTER_EVENT_AUDITED);
  // Another pod without the flag is still enforced.
  const IpAddress other =
      *IpAddress::parse(n().host.family == IpFamily::kV4 ? "192.0.2.71" : "2001:db8::71");
  addIdentity(other, kPod + 1);
  EXPECT_EQ(runPodIngress(PacketBuilder(other, n().denied).tcp(kPodPort, 443, kTcpSyn).build()),
            Verdict::kDrop);
}

TEST_P(PodTest, TheAnswerToAPodsQueryIsHeldWithThePodsIdentity) {
  addIdentity(pod(), kPod);
  trustResolver(n().resolver, kDnsPort);
  const Packet query =
      PacketBuilder(pod(), n().resolver)
          .udp(kPodPort, kDnsPort, dnsQuery(kDnsId, "example.com", n().host.family))
          .build();
  EXPECT_EQ(runPodIngress(query), Verdict::kPass);
  ASSERT_EQ(queries().size(), 1u);
  EXPECT_EQ(queries()[0].second.identity, kPod);

  const Packet answer = PacketBuilder(n().resolver, pod())
                            .udp(kDnsPort, kPodPort, dnsAnswer(kDnsId, "example.com", n().learned))
                            .build();
  EXPECT_EQ(runPodEgress(answer), Verdict::kDrop);
  const auto punted = drainAnswers();
  ASSERT_EQ(punted.size(), 1u);
  EXPECT_EQ(punted[0].header.destination, SKOUTER_ANSWER_TO_POD);
  EXPECT_EQ(punted[0].header.identity, kPod);
  EXPECT_EQ(punted[0].frame, answer.frame);
}

TEST_P(PodTest, TrafficIntoAPodNobodyPolicesPasses) {
  trustResolver(n().resolver, kDnsPort);
  const Packet answer = PacketBuilder(n().resolver, pod())
                            .udp(kDnsPort, kPodPort, dnsAnswer(kDnsId, "example.com", n().learned))
                            .build();
  EXPECT_EQ(runPodEgress(answer), Verdict::kPass);
  EXPECT_TRUE(drainAnswers().empty());
}

TEST_P(PodTest, AnUnpolicedPodBehindASharedInterfacePassesBothWays) {
  // On a bridge, the pod programs see every pod behind it; one nobody polices is listed
  // with the unpoliced identity so that it is not taken for a spoofed source.
  addIdentity(pod(), SKOUTER_UNPOLICED_IDENTITY);
  trustResolver(n().resolver, kDnsPort);
  const Packet query =
      PacketBuilder(pod(), n().resolver)
          .udp(kPodPort, kDnsPort, dnsQuery(kDnsId, "example.com", n().host.family))
          .build();
  HookCounters before = counters();
  EXPECT_EQ(runPodIngress(synTo(n().denied)), Verdict::kPass);
  EXPECT_EQ(runPodIngress(query), Verdict::kPass);
  EXPECT_TRUE(queries().empty());
  EXPECT_TRUE(flows().empty());
  EXPECT_EQ(runPodEgress(PacketBuilder(n().resolver, pod())
                             .udp(kDnsPort, kPodPort, dnsAnswer(kDnsId, "example.com", n().learned))
                             .build()),
            Verdict::kPass);
  EXPECT_TRUE(drainAnswers().empty());
  EXPECT_TRUE(drainEvents().empty());
  EXPECT_EQ(countersMoved(before, counters()), HookCounters{});
}

TEST_P(PodTest, ConnectionsOpenedToAPodGetTheirReplies) {
  addIdentity(pod(), kPod);
  EXPECT_EQ(runPodEgress(PacketBuilder(n().world, pod()).tcp(50000, 8080, kTcpSyn).build()),
            Verdict::kPass);
  const auto reply = PacketBuilder(pod(), n().world).tcp(8080, 50000, kTcpSyn | kTcpAck).build();
  EXPECT_EQ(runPodIngress(reply), Verdict::kPass);
  // A new connection from the pod to the same peer is still judged.
  EXPECT_EQ(runPodIngress(PacketBuilder(pod(), n().world).tcp(kPodPort, 8080, kTcpSyn).build()),
            Verdict::kDrop);
}

INSTANTIATE_TEST_SUITE_P(Families, PodTest, ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
