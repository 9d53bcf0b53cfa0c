// ServerNameRuleTable over the pinned server_name_rules map of a loaded datapath: a
// rule is checked while any workload's policy checks it, on the ports of a set interned
// in port_sets; what a previous daemon left is removed once no workload checks it.
#include "bpf/maps/server_name_rule_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "bpf/maps/port_set_table.h"
#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using maps::PortSetTable;
using maps::ServerNameRuleTable;
using policy::PortProtocol;
using policy::PortSet;
using policy::ServerNameCheck;
using policy::ServerNameMatch;

constexpr std::uint32_t kPod = 100;
constexpr policy::RuleId kShared = 0x1001;  // checked by both workloads
constexpr policy::RuleId kHostOnly = 0x1002;
constexpr policy::RuleId kPodOnly = 0x1003;

const ServerNameCheck kTls{.ports = policy::defaultServerNamePorts(),
                           .match = ServerNameMatch::kLearnedForAddress};
const ServerNameCheck kAnyAllowedName{.ports = policy::defaultServerNamePorts(),
                                      .match = ServerNameMatch::kAllowedByPolicy};
const ServerNameCheck kAlternativePort{.ports = {{PortProtocol::kTcp, 8443, 8443}},
                                       .match = ServerNameMatch::kLearnedForAddress};

policy::CompiledPolicy checking(std::map<policy::RuleId, ServerNameCheck> checks) {
  policy::CompiledPolicy policy;
  policy.polices = true;
  policy.server_name_checks = std::move(checks);
  return policy;
}

class ServerNameRuleTableTest : public DatapathFixture {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    if (HasFatalFailure()) return;
    port_sets_.emplace(datapath().portSets());
    table_.emplace(datapath().serverNameRules(), *port_sets_);
  }

  // The map itself: rule -> port set.
  std::map<std::uint32_t, std::uint32_t> stored() {
    std::map<std::uint32_t, std::uint32_t> rules;
    datapath().serverNameRules().forEach(
        [&](const std::uint32_t& rule, const skouter_server_name_rule& value) {
          rules[rule] = value.port_set;
        });
    return rules;
  }
  std::set<std::uint32_t> storedRules() {
    std::set<std::uint32_t> rules;
    for (const auto& [rule, port_set] : stored()) rules.insert(rule);
    return rules;
  }

  std::optional<PortSetTable> port_sets_;
  std::optional<ServerNameRuleTable> table_;
};

TEST_F(ServerNameRuleTableTest, ARuleTwoWorkloadsShareStaysWhileEitherChecksIt) {
  const auto host = checking({{kShared, kTls}, {kHostOnly, kTls}});
  const auto pod = checking({{kShared, kTls}, {kPodOnly, kTls}});
  const maps::SyncResult host_sync = table_->sync(SKOUTER_HOST_IDENTITY, &host);
  EXPECT_EQ(host_sync.added, 2u);
  EXPECT_EQ(host_sync.failed, 0u);
  const maps::SyncResult pod_sync = table_->sync(kPod, &pod);
  EXPECT_EQ(pod_sync.added, 2u);
  EXPECT_EQ(pod_sync.failed, 0u);
  EXPECT_EQ(storedRules(), (std::set<std::uint32_t>{kShared, kHostOnly, kPodOnly}));
  EXPECT_EQ(table_->size(), 3u);

  // The host no longer checks the shared rule: the pod still does.
  const auto host_without_shared = checking({{kHostOnly, kTls}});
  const maps::SyncResult dropped = table_->sync(SKOUTER_HOST_IDENTITY, &host_without_shared);
  EXPECT_EQ(dropped.added, 0u);
  EXPECT_EQ(dropped.removed, 1u);
  EXPECT_EQ(table_->forgetUnused(), 0u);
  EXPECT_EQ(storedRules(), (std::set<std::uint32_t>{kShared, kHostOnly, kPodOnly}));
  EXPECT_EQ(table_->checkOf(kShared), kTls);

  // Nor does the pod's policy, now: nobody checks it.
  const auto pod_without_shared = checking({{kPodOnly, kTls}});
  EXPECT_EQ(table_->sync(kPod, &pod_without_shared).removed, 1u);
  EXPECT_EQ(table_->forgetUnused(), 1u);
  EXPECT_EQ(storedRules(), (std::set<std::uint32_t>{kHostOnly, kPodOnly}));
  EXPECT_EQ(table_->checkOf(kShared), std::nullopt);
}

TEST_F(ServerNameRuleTableTest, SyncingNoPolicyRemovesOnlyThatWorkloadsRules) {
  const auto host = checking({{kShared, kTls}, {kHostOnly, kTls}});
  const auto pod = checking({{kShared, kTls}, {kPodOnly, kTls}});
  table_->sync(SKOUTER_HOST_IDENTITY, &host);
  table_->sync(kPod, &pod);

  const maps::SyncResult gone = table_->sync(kPod, nullptr);
  EXPECT_EQ(gone.removed, 2u);
  EXPECT_EQ(gone.added, 0u);
  EXPECT_EQ(table_->forgetUnused(), 1u);
  EXPECT_EQ(storedRules(), (std::set<std::uint32_t>{kShared, kHostOnly}));
  EXPECT_EQ(table_->checkOf(kPodOnly), std::nullopt);
  EXPECT_EQ(table_->checkOf(kShared), kTls);

  // Again: nothing more to remove.
  EXPECT_EQ(table_->sync(kPod, nullptr).removed, 0u);
  EXPECT_EQ(table_->forgetUnused(), 0u);
}

TEST_F(ServerNameRuleTableTest, TheRulesAPreviousDaemonPinnedStayUntilNoWorkloadChecksThem) {
  const auto before = checking({{kShared, kTls}, {kHostOnly, kAnyAllowedName}});
  table_->sync(SKOUTER_HOST_IDENTITY, &before);
  const auto pinned = stored();
  ASSERT_EQ(pinned.size(), 2u);

  // The next daemon, over the same pins: the rules keep being checked meanwhile.
  PortSetTable port_sets(datapath().portSets());
  ServerNameRuleTable restarted(datapath().serverNameRules(), port_sets);
  EXPECT_EQ(restarted.size(), 2u);
  EXPECT_EQ(stored(), pinned);
  ASSERT_TRUE(restarted.checkOf(kHostOnly).has_value());
  EXPECT_EQ(restarted.checkOf(kHostOnly)->ports, policy::defaultServerNamePorts());
  EXPECT_EQ(restarted.portSetsInUse(), (std::set<std::uint32_t>{pinned.at(kShared)}));

  // Its policy checks only the shared rule now: the other goes once it forgets.
  const auto after = checking({{kShared, kTls}});
  EXPECT_EQ(restarted.sync(SKOUTER_HOST_IDENTITY, &after).added, 1u);
  EXPECT_EQ(restarted.forgetUnused(), 1u);
  EXPECT_EQ(stored(), (std::map<std::uint32_t, std::uint32_t>{{kShared, pinned.at(kShared)}}));
  EXPECT_EQ(restarted.checkOf(kHostOnly), std::nullopt);
  EXPECT_EQ(restarted.checkOf(kShared), kTls);
}

TEST_F(ServerNameRuleTableTest, ThePortsAreASetInPortSetsOfTcpAndUdp443) {
  const auto host = checking({{kShared, kTls}});
  table_->sync(SKOUTER_HOST_IDENTITY, &host);
  const auto rules = stored();
  ASSERT_EQ(rules.size(), 1u);
  const std::uint32_t port_set = rules.at(kShared);
  EXPECT_NE(port_set, 0u) << "0 would be every port, which the programs never check";
  EXPECT_EQ(table_->portSetsInUse(), std::set<std::uint32_t>{port_set});

  const std::optional<skouter_port_set> interned = datapath().portSets().lookup(port_set);
  ASSERT_TRUE(interned.has_value());
  ASSERT_EQ(interned->count, 2u);
  std::set<std::tuple<std::uint8_t, std::uint16_t, std::uint16_t>> ranges;
  for (std::uint32_t i = 0; i < interned->count; ++i) {
    ranges.insert(
        {interned->ranges[i].protocol, interned->ranges[i].first, interned->ranges[i].last});
  }
  EXPECT_EQ(ranges, (std::set<std::tuple<std::uint8_t, std::uint16_t, std::uint16_t>>{
                        {IPPROTO_TCP, 443, 443}, {IPPROTO_UDP, 443, 443}}));
  EXPECT_EQ(port_sets_->lookup(port_set), policy::defaultServerNamePorts());
}

TEST_F(ServerNameRuleTableTest, CheckOfTellsHowARuleIsCheckedAndFollowsAChange) {
  EXPECT_EQ(table_->checkOf(kShared), std::nullopt);
  const auto host = checking({{kShared, kAnyAllowedName}});
  table_->sync(SKOUTER_HOST_IDENTITY, &host);
  EXPECT_EQ(table_->checkOf(kShared), kAnyAllowedName);
  EXPECT_EQ(table_->checkOf(kHostOnly), std::nullopt);

  // Other ports: the entry names the set of those.
  const auto changed = checking({{kShared, kAlternativePort}});
  const maps::SyncResult result = table_->sync(SKOUTER_HOST_IDENTITY, &changed);
  EXPECT_EQ(result.added, 0u);
  EXPECT_EQ(result.removed, 0u);
  EXPECT_EQ(table_->checkOf(kShared), kAlternativePort);
  const std::uint32_t port_set = stored().at(kShared);
  EXPECT_EQ(port_sets_->lookup(port_set), kAlternativePort.ports);
}

}  // namespace
}  // namespace skouter::bpftest
