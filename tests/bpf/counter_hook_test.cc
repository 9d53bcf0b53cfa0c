// Which program counted what: every program counts under its own hook, so the same
// reason (a denied flow, a punted answer) is told apart on the uplink and on a pod's
// interface, and nothing one program does shows under another's hook.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cctype>
#include <functional>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

constexpr std::uint32_t kPod = 100;
constexpr std::uint16_t kLocalPort = 41000;
constexpr std::uint16_t kWorldPort = 50000;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kDnsId = 0x3b3b;
constexpr char kName[] = "example.com";

// A pod beside the host, in the same documentation range.
IpAddress podAddress(const TestNetwork& network) {
  return *IpAddress::parse(network.host.family == IpFamily::kV4 ? "192.0.2.70" : "2001:db8::70");
}

struct HookCase {
  std::string description;
  Program program;
  const TestNetwork* network = nullptr;
  Packet packet{};
  SkbContext context{};
  std::function<void(DatapathFixture&)> setup{};
  Verdict verdict = Verdict::kPass;
  HookCounters counted{};  // exactly what moves, under which hook
};

void PrintTo(const HookCase& hook_case, std::ostream* out) {
  *out << hook_case.description << " (" << hook_case.network->name << ")";
}

std::string hookCaseName(const ::testing::TestParamInfo<HookCase>& info) {
  return testNameOf(info.param.description, *info.param.network);
}

std::vector<HookCase> casesFor(const TestNetwork& n) {
  const IpAddress pod = podAddress(n);
  const auto query_from = [&](const IpAddress& client) {
    return PacketBuilder(client, n.resolver)
        .udp(kLocalPort, kDnsPort, dnsQuery(kDnsId, kName, client.family))
        .build();
  };
  const auto answer_to = [&](const IpAddress& client) {
    return PacketBuilder(n.resolver, client)
        .udp(kDnsPort, kLocalPort, dnsAnswer(kDnsId, kName, n.learned))
        .build();
  };
  const auto query_recorded_for = [](const IpAddress& client, std::uint32_t identity) {
    return [=](DatapathFixture& datapath) {
      datapath.putQuery(DatapathFixture::queryKey(client, kLocalPort, kDnsId), datapathNowNs(), {},
                        identity);
    };
  };

  return {
      {.description = "host's denied SYN counts under uplink_egress",
       .program = Program::kUplinkEgress,
       .network = &n,
       .packet = PacketBuilder(n.host, n.denied).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .counted = {{"uplink_egress", {{"egress_denied", 1}}}}},
      {.description = "host's SYN to a learned address counts under uplink_egress",
       .program = Program::kUplinkEgress,
       .network = &n,
       .packet = PacketBuilder(n.host, n.learned).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .counted = {{"uplink_egress", {{"egress_allowed_learned", 1}}}}},
      {.description = "forwarded query is noted under uplink_egress",
       .program = Program::kUplinkEgress,
       .network = &n,
       .packet = query_from(n.host),
       .context = kForwarded,
       // From a pod's interface: judged there, only its query is noted here.
       .setup =
           [](DatapathFixture& datapath) {
             datapath.setInterfaceKind(kForwardedIfindex, SKOUTER_INTERFACE_POD);
           },
       .verdict = Verdict::kPass,
       .counted = {{"uplink_egress", {{"dns_query_recorded", 1}}}}},

      {.description = "answer to the host is held under uplink_ingress",
       .program = Program::kUplinkIngress,
       .network = &n,
       .packet = answer_to(n.host),
       .setup = query_recorded_for(n.host, SKOUTER_HOST_IDENTITY),
       .verdict = Verdict::kDrop,
       .counted = {{"uplink_ingress", {{"dns_answer_punted", 1}}}}},
      {.description = "unsolicited answer to the host counts under uplink_ingress",
       .program = Program::kUplinkIngress,
       .network = &n,
       .packet = answer_to(n.host),
       .verdict = Verdict::kDrop,
       .counted = {{"uplink_ingress", {{"dns_answer_unsolicited", 1}}}}},
      {.description = "SYN to the host is noted under uplink_ingress",
       .program = Program::kUplinkIngress,
       .network = &n,
       .packet = PacketBuilder(n.world, n.host).tcp(kWorldPort, 22, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .counted = {{"uplink_ingress", {{"ingress_flow_recorded", 1}}}}},

      {.description = "pod's denied SYN counts under pod_ingress",
       .program = Program::kPodIngress,
       .network = &n,
       .packet = PacketBuilder(pod, n.denied).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .counted = {{"pod_ingress", {{"egress_denied", 1}}}}},
      {.description = "pod's SYN to a learned address counts under pod_ingress",
       .program = Program::kPodIngress,
       .network = &n,
       .packet = PacketBuilder(pod, n.learned).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .counted = {{"pod_ingress", {{"egress_allowed_learned", 1}}}}},
      {.description = "pod's query is noted under pod_ingress",
       .program = Program::kPodIngress,
       .network = &n,
       .packet = query_from(pod),
       .verdict = Verdict::kPass,
       .counted = {{"pod_ingress", {{"egress_allowed_resolver", 1}, {"dns_query_recorded", 1}}}}},
      {.description = "spoofed source counts under pod_ingress",
       .program = Program::kPodIngress,
       .network = &n,
       .packet = PacketBuilder(n.world, n.learned).tcp(kLocalPort, kHttpsPort, kTcpSyn).build(),
       .verdict = Verdict::kDrop,
       .counted = {{"pod_ingress", {{"pod_unknown_source", 1}}}}},

      {.description = "answer to the pod is held under pod_egress",
       .program = Program::kPodEgress,
       .network = &n,
       .packet = answer_to(pod),
       .setup = query_recorded_for(pod, kPod),
       .verdict = Verdict::kDrop,
       .counted = {{"pod_egress", {{"dns_answer_punted", 1}}}}},
      {.description = "unsolicited answer to the pod counts under pod_egress",
       .program = Program::kPodEgress,
       .network = &n,
       .packet = answer_to(pod),
       .verdict = Verdict::kDrop,
       .counted = {{"pod_egress", {{"dns_answer_unsolicited", 1}}}}},
      {.description = "SYN to the pod is noted under pod_egress",
       .program = Program::kPodEgress,
       .network = &n,
       .packet = PacketBuilder(n.world, pod).tcp(kWorldPort, 8080, kTcpSyn).build(),
       .verdict = Verdict::kPass,
       .counted = {{"pod_egress", {{"ingress_flow_recorded", 1}}}}},
  };
}

std::vector<HookCase> allCases() {
  std::vector<HookCase> cases = casesFor(ipv4Network());
  for (auto& hook_case : casesFor(ipv6Network())) cases.push_back(std::move(hook_case));
  return cases;
}

class CounterHookTest : public DatapathFixture, public ::testing::WithParamInterface<HookCase> {};

TEST_P(CounterHookTest, CountsUnderTheHookOfTheProgramThatRan) {
  const HookCase& hook_case = GetParam();
  const TestNetwork& n = *hook_case.network;
  installPolicy(n);
  addIdentity(podAddress(n), kPod);
  allowIpFor(kPod, n.learned, datapathNowNs() + 3600 * kNanosPerSecond);
  if (hook_case.setup) hook_case.setup(*this);
  const HookCounters before = counters();

  EXPECT_EQ(runProgram(*this, hook_case.program, hook_case.packet, hook_case.context),
            hook_case.verdict);
  EXPECT_EQ(countersMoved(before, counters()), hook_case.counted);
}

INSTANTIATE_TEST_SUITE_P(Table, CounterHookTest, ::testing::ValuesIn(allCases()), hookCaseName);

// The daemon's view: readCounters() per hook, and the total of a reason over hooks.
class CounterSnapshotTest : public DatapathFixture {};

TEST_F(CounterSnapshotTest, TotalsAddUpEveryHook) {
  const TestNetwork& n = ipv4Network();
  installPolicy(n);
  addIdentity(podAddress(n), kPod);
  ASSERT_EQ(runUplinkEgress(PacketBuilder(n.host, n.denied).tcp(kLocalPort, 443, kTcpSyn).build()),
            Verdict::kDrop);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(
        runPodIngress(PacketBuilder(podAddress(n), n.denied).tcp(kLocalPort, 443, kTcpSyn).build()),
        Verdict::kDrop);
  }
  const CounterSnapshot snapshot = datapath().readCounters();
  EXPECT_EQ(snapshot.at(SKOUTER_HOOK_UPLINK_EGRESS, SKOUTER_CNT_EGRESS_DENIED), 1u);
  EXPECT_EQ(snapshot.at(SKOUTER_HOOK_POD_INGRESS, SKOUTER_CNT_EGRESS_DENIED), 2u);
  EXPECT_EQ(snapshot.at(SKOUTER_HOOK_UPLINK_INGRESS, SKOUTER_CNT_EGRESS_DENIED), 0u);
  EXPECT_EQ(snapshot.at(SKOUTER_HOOK_POD_EGRESS, SKOUTER_CNT_EGRESS_DENIED), 0u);
  EXPECT_EQ(snapshot.total(SKOUTER_CNT_EGRESS_DENIED), 3u);
  EXPECT_EQ(snapshot.total(SKOUTER_CNT_EGRESS_ALLOWED_LEARNED), 0u);
}

}  // namespace
}  // namespace skouter::bpftest
