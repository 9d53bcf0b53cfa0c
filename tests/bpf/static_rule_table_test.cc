// StaticRuleTable over the pinned allowed_cidrs and port_sets maps of a loaded datapath:
// the ports of static IPs and CIDRs, and syncs that change only the ports.
#include "bpf/maps/static_rule_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

using maps::StaticRuleEntry;
using maps::StaticRuleTable;
using maps::SyncResult;
using policy::PortProtocol;
using policy::PortRange;
using policy::PortSet;
using policy::StaticEntry;

constexpr std::uint32_t kHost = SKOUTER_HOST_IDENTITY;
constexpr std::uint32_t kPod = 1000;
constexpr policy::RuleId kRule = 3;
constexpr policy::RuleId kOtherRule = 4;

PortSet tcp(std::uint16_t port) { return {{PortProtocol::kTcp, port, port}}; }

IpPrefix prefix(const std::string& text) { return IpPrefix::parse(text).value(); }

std::vector<std::string> sorted(std::vector<std::string> lines) {
  std::sort(lines.begin(), lines.end());
  return lines;
}

class StaticRuleTableTest : public DatapathFixture,
                            public ::testing::WithParamInterface<const TestNetwork*> {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    port_sets_ = std::make_unique<maps::PortSetTable>(datapath().portSets());
    rules_ = std::make_unique<StaticRuleTable>(datapath().allowedCidrs(), *port_sets_);
  }

  const TestNetwork& network() const { return *GetParam(); }

  Verdict synTo(const IpAddress& address, std::uint16_t port) {
    return runUplinkEgress(
        PacketBuilder(network().host, address).tcp(next_port_++, port, kTcpSyn).build());
  }
  Verdict udpTo(const IpAddress& address, std::uint16_t port) {
    return runUplinkEgress(PacketBuilder(network().host, address).udp(next_port_++, port).build());
  }

  // The entries of the table, as "identity prefix rule ports", sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> result;
    for (const StaticRuleEntry& entry : rules_->entries()) {
      result.push_back(std::to_string(entry.identity) + " " + entry.entry.prefix.toString() +
                       " rule " + std::to_string(entry.entry.rule) + " " +
                       policy::describePorts(entry.entry.ports));
    }
    std::sort(result.begin(), result.end());
    return result;
  }

  std::string entry(std::uint32_t identity, const std::string& text, policy::RuleId rule,
                    const PortSet& ports) const {
    return std::to_string(identity) + " " + prefix(text).toString() + " rule " +
           std::to_string(rule) + " " + policy::describePorts(ports);
  }

  std::set<std::uint32_t> portSetIds() {
    std::set<std::uint32_t> ids;
    datapath().portSets().forEach(
        [&](const std::uint32_t& id, const skouter_port_set&) { ids.insert(id); });
    return ids;
  }

  std::unique_ptr<maps::PortSetTable> port_sets_;
  std::unique_ptr<StaticRuleTable> rules_;
  std::uint16_t next_port_ = 40000;
};

TEST_P(StaticRuleTableTest, EntriesOpenOnlyTheirPorts) {
  const TestNetwork& n = network();
  const PortSet mixed = {{PortProtocol::kTcp, 8000, 8080}, {PortProtocol::kUdp, 53, 53}};
  const SyncResult result = rules_->sync(
      kHost, {{prefix(n.static_prefix), kRule, tcp(443)}, {prefix(n.cidr), kOtherRule, mixed}});
  EXPECT_EQ(result.added, 2u);
  EXPECT_EQ(result.removed, 0u);
  EXPECT_EQ(result.failed, 0u);
  EXPECT_EQ(entries(), sorted({
                           entry(kHost, n.static_prefix, kRule, tcp(443)),
                           entry(kHost, n.cidr, kOtherRule, mixed),
                       }));

  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kPass);
  EXPECT_EQ(synTo(n.static_ip, 80), Verdict::kDrop);
  EXPECT_EQ(udpTo(n.static_ip, 443), Verdict::kDrop);
  EXPECT_EQ(synTo(n.in_cidr, 8000), Verdict::kPass);
  EXPECT_EQ(synTo(n.in_cidr, 8080), Verdict::kPass);
  EXPECT_EQ(udpTo(n.in_cidr, 53), Verdict::kPass);
  EXPECT_EQ(synTo(n.in_cidr, 53), Verdict::kDrop);
  EXPECT_EQ(synTo(n.outside_cidr, 8000), Verdict::kDrop);
  EXPECT_EQ(
      counters(),
      (HookCounters{
          {"uplink_egress",
           {{"egress_allowed_static", 4}, {"egress_port_denied", 3}, {"egress_denied", 4}}}}));
  EXPECT_EQ(rules_->portSetsInUse(), portSetIds());
}

TEST_P(StaticRuleTableTest, ASyncChangingOnlyThePortsUpdatesTheEntryInPlace) {
  const TestNetwork& n = network();
  ASSERT_EQ(
      rules_->sync(kHost, {{prefix(n.static_prefix), kRule, tcp(443)}, {prefix(n.cidr), kRule, {}}})
          .added,
      2u);
  ASSERT_EQ(synTo(n.static_ip, 443), Verdict::kPass);
  ASSERT_EQ(synTo(n.static_ip, 80), Verdict::kDrop);

  // The same policy again changes nothing.
  SyncResult result = rules_->sync(
      kHost, {{prefix(n.static_prefix), kRule, tcp(443)}, {prefix(n.cidr), kRule, {}}});
  EXPECT_EQ(result.added, 0u);
  EXPECT_EQ(result.removed, 0u);

  // Only the ports of one entry change: it is rewritten, not removed and added.
  result =
      rules_->sync(kHost, {{prefix(n.static_prefix), kRule, tcp(80)}, {prefix(n.cidr), kRule, {}}});
  EXPECT_EQ(result.added, 1u);
  EXPECT_EQ(result.removed, 0u);
  EXPECT_EQ(result.failed, 0u);
  EXPECT_EQ(entries(), sorted({
                           entry(kHost, n.static_prefix, kRule, tcp(80)),
                           entry(kHost, n.cidr, kRule, {}),
                       }));
  EXPECT_EQ(synTo(n.static_ip, 80), Verdict::kPass);
  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kDrop);

  // To every port, and back to some.
  result = rules_->sync(kHost, {{prefix(n.static_prefix), kRule, {}}, {prefix(n.cidr), kRule, {}}});
  EXPECT_EQ(result.added, 1u);
  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kPass);
  EXPECT_EQ(synTo(n.static_ip, 22), Verdict::kPass);
  result =
      rules_->sync(kHost, {{prefix(n.static_prefix), kRule, {}}, {prefix(n.cidr), kRule, tcp(22)}});
  EXPECT_EQ(result.added, 1u);
  EXPECT_EQ(synTo(n.in_cidr, 22), Verdict::kPass);
  EXPECT_EQ(synTo(n.in_cidr, 443), Verdict::kDrop);

  // The sets no entry uses any more can go; what the entries use stays.
  port_sets_->retainOnly(rules_->portSetsInUse());
  std::set<std::uint32_t> stored = rules_->portSetsInUse();
  stored.erase(0);
  EXPECT_EQ(portSetIds(), stored);
  EXPECT_EQ(synTo(n.in_cidr, 22), Verdict::kPass);
}

TEST_P(StaticRuleTableTest, PortsAreKeptApartPerIdentity) {
  const TestNetwork& n = network();
  rules_->sync(kHost, {{prefix(n.static_prefix), kRule, tcp(443)}});
  rules_->sync(kPod, {{prefix(n.static_prefix), kRule, tcp(80)}});
  // The pod's ports are not the host's.
  EXPECT_EQ(synTo(n.static_ip, 80), Verdict::kDrop);
  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kPass);
  // Changing the host's ports leaves the pod's entry alone.
  const SyncResult result = rules_->sync(kHost, {{prefix(n.static_prefix), kRule, tcp(22)}});
  EXPECT_EQ(result.added, 1u);
  EXPECT_EQ(result.removed, 0u);
  EXPECT_EQ(entries(), sorted({
                           entry(kHost, n.static_prefix, kRule, tcp(22)),
                           entry(kPod, n.static_prefix, kRule, tcp(80)),
                       }));
}

TEST_P(StaticRuleTableTest, PortsBeyondWhatAnEntryHoldsAreWidenedToFit) {
  const TestNetwork& n = network();
  rules_->sync(kHost, {{prefix(n.static_prefix), kRule, tcp(443)}});
  PortSet too_many;
  for (std::uint16_t i = 0; i <= SKOUTER_MAX_PORT_RANGES; ++i) {
    too_many.push_back({PortProtocol::kTcp, static_cast<std::uint16_t>(1000 + 2 * i),
                        static_cast<std::uint16_t>(1000 + 2 * i)});
  }
  const SyncResult result = rules_->sync(kHost, {{prefix(n.static_prefix), kRule, too_many}});
  EXPECT_EQ(result.failed, 0u);
  EXPECT_EQ(result.added, 1u);
  // Every listed port is open; so is the port in the one gap closed to make it fit.
  for (const PortRange& range : too_many) {
    EXPECT_EQ(synTo(n.static_ip, range.first), Verdict::kPass) << range.first;
  }
  EXPECT_EQ(synTo(n.static_ip, 1001), Verdict::kPass);
  EXPECT_EQ(synTo(n.static_ip, 1003), Verdict::kDrop);
  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kDrop);
}

// A new daemon over the same pins: the ids of the port sets keep their meaning, and a
// sync of the same policy rewrites nothing.
TEST_P(StaticRuleTableTest, ARestartedTableKeepsThePinnedEntries) {
  const TestNetwork& n = network();
  const std::vector<StaticEntry> wanted = {{prefix(n.static_prefix), kRule, tcp(443)},
                                           {prefix(n.cidr), kOtherRule, tcp(8443)}};
  ASSERT_EQ(rules_->sync(kHost, wanted).added, 2u);

  maps::PortSetTable restarted_sets(datapath().portSets());
  StaticRuleTable restarted(datapath().allowedCidrs(), restarted_sets);
  const SyncResult result = restarted.sync(kHost, wanted);
  EXPECT_EQ(result.added, 0u);
  EXPECT_EQ(result.removed, 0u);
  EXPECT_EQ(synTo(n.static_ip, 443), Verdict::kPass);
  EXPECT_EQ(synTo(n.in_cidr, 8443), Verdict::kPass);
  EXPECT_EQ(synTo(n.in_cidr, 443), Verdict::kDrop);
  // What the status shows as the fill of allowed_cidrs, counted, not walked.
  const std::size_t pinned = restarted.entries().size();
  EXPECT_EQ(restarted.size(), pinned);
  EXPECT_EQ(restarted.sync(kHost, {}).removed, 2u);
  EXPECT_EQ(restarted.size(), pinned - 2);
  EXPECT_EQ(restarted.size(), restarted.entries().size());
}

INSTANTIATE_TEST_SUITE_P(Families, StaticRuleTableTest,
                         ::testing::Values(&ipv4Network(), &ipv6Network()),
                         [](const auto& info) { return info.param->name; });

}  // namespace
}  // namespace skouter::bpftest
