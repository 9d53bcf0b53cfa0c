// LearnableNameTable over the pinned learnable_names, learning and learning_budget_used
// maps of a loaded datapath: what the programs may learn by themselves while the daemon
// is away, kept in step with each workload's policy.
#include "bpf/maps/learnable_name_table.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/name_hash.h"
#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using maps::learnableNameHash;
using maps::LearnableNameTable;

constexpr std::uint32_t kPod = 1000;
constexpr std::uint32_t kOtherPod = 1001;
constexpr policy::RuleId kExactRule = 11;
constexpr policy::RuleId kWildcardRule = 12;

policy::PortSet tcp(std::uint16_t port) { return {{policy::PortProtocol::kTcp, port, port}}; }

policy::CompiledPolicy policyOf(const std::vector<std::string>& exact,
                                const std::vector<std::string>& wildcards) {
  policy::CompiledPolicy policy;
  policy.polices = true;
  for (const auto& name : exact) policy.names.addExact(name, kExactRule);
  for (const auto& suffix : wildcards) policy.names.addWildcard(suffix, kWildcardRule);
  policy.names.compile();
  policy.rule_ports[kWildcardRule] = tcp(443);
  return policy;
}

class LearnableNameTableTest : public DatapathFixture {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    port_sets_ = std::make_unique<maps::PortSetTable>(datapath().portSets());
    table_ = newTable();
    ASSERT_TRUE(table_->configure(settings()));
  }

  std::unique_ptr<LearnableNameTable> newTable() {
    return std::make_unique<LearnableNameTable>(datapath().learnableNames(), datapath().learning(),
                                                datapath().learningBudgetUsed(), *port_sets_);
  }

  static maps::LearningSettings settings() {
    return {.ttl = {.min_ttl_s = 7, .grace_s = 3, .max_ttl_s = 600}, .budget = 50};
  }

  // The entries of `identity` in the map, by kind and hash.
  std::map<std::pair<std::uint32_t, std::uint64_t>, skouter_learnable_name_value> entriesOf(
      std::uint32_t identity) {
    std::map<std::pair<std::uint32_t, std::uint64_t>, skouter_learnable_name_value> entries;
    datapath().learnableNames().forEach(
        [&](const skouter_learnable_name_key& key, const skouter_learnable_name_value& value) {
          if (key.identity == identity) entries.emplace(std::pair{key.kind, key.hash}, value);
        });
    return entries;
  }

  std::uint64_t hashOf(const std::string& name) const {
    return learnableNameHash(table_->seed(), name);
  }

  std::unique_ptr<maps::PortSetTable> port_sets_;
  std::unique_ptr<LearnableNameTable> table_;
};

TEST_F(LearnableNameTableTest, ExactNamesAndSuffixesGoInUnderTheirHashWithRuleAndPorts) {
  const auto policy = policyOf({"API.Example.com."}, {"cdn.example.org"});
  const auto result = table_->sync(kPod, &policy);
  EXPECT_EQ(result.added, 2u);
  EXPECT_EQ(result.failed, 0u);

  const auto entries = entriesOf(kPod);
  ASSERT_EQ(entries.size(), 2u);
  const auto exact = entries.find({SKOUTER_LEARNABLE_EXACT, hashOf("api.example.com")});
  ASSERT_NE(exact, entries.end());
  EXPECT_EQ(exact->second.rule_id, kExactRule);
  EXPECT_EQ(exact->second.port_set, 0u);  // every port
  const auto below = entries.find({SKOUTER_LEARNABLE_BELOW, hashOf("cdn.example.org")});
  ASSERT_NE(below, entries.end());
  EXPECT_EQ(below->second.rule_id, kWildcardRule);
  EXPECT_EQ(port_sets_->lookup(below->second.port_set), tcp(443));
  EXPECT_TRUE(table_->portSetsInUse().contains(below->second.port_set));
  EXPECT_EQ(table_->size(), 2u);
}

TEST_F(LearnableNameTableTest, APolicyChangeReplacesTheNamesOfThatWorkloadOnly) {
  const auto first = policyOf({"a.example.com", "b.example.com"}, {});
  table_->sync(kPod, &first);
  table_->sync(kOtherPod, &first);

  const auto second = policyOf({"b.example.com"}, {"example.net"});
  const auto result = table_->sync(kPod, &second);
  EXPECT_EQ(result.added, 1u);
  EXPECT_EQ(result.removed, 1u);
  const auto entries = entriesOf(kPod);
  EXPECT_EQ(entries.size(), 2u);
  EXPECT_FALSE(entries.contains({SKOUTER_LEARNABLE_EXACT, hashOf("a.example.com")}));
  EXPECT_TRUE(entries.contains({SKOUTER_LEARNABLE_BELOW, hashOf("example.net")}));
  EXPECT_EQ(entriesOf(kOtherPod).size(), 2u);

  // A workload no longer policed learns nothing.
  EXPECT_EQ(table_->sync(kPod, nullptr).removed, 2u);
  EXPECT_TRUE(entriesOf(kPod).empty());
  EXPECT_EQ(table_->size(), 2u);
}

TEST_F(LearnableNameTableTest, APolicyAllowingEveryNameHasNothingToLearnByName) {
  auto policy = policyOf({"a.example.com"}, {"example.net"});
  policy.names.addAnyName(99);
  table_->sync(kPod, &policy);
  EXPECT_TRUE(entriesOf(kPod).empty());
}

TEST_F(LearnableNameTableTest, ARestartedDaemonKeepsTheSeedAndFindsItsEntries) {
  const auto policy = policyOf({"a.example.com"}, {"example.net"});
  table_->sync(kPod, &policy);
  const std::uint64_t seed = table_->seed();
  ASSERT_NE(seed, 0u);

  table_ = newTable();
  ASSERT_TRUE(table_->configure(settings()));
  EXPECT_EQ(table_->seed(), seed);
  EXPECT_EQ(table_->size(), 2u);
  const auto again = table_->sync(kPod, &policy);
  EXPECT_EQ(again.added + again.removed, 0u);
}

TEST_F(LearnableNameTableTest, ConfigureWritesTheSettingsAndClearsWhatWasLearned) {
  ASSERT_EQ(datapath().learningBudgetUsed().update(kPod, 17), 0);
  ASSERT_TRUE(table_->configure(settings()));
  const auto written = datapath().learning().lookup(0);
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->seed, table_->seed());
  EXPECT_EQ(written->min_ttl_s, 7u);
  EXPECT_EQ(written->max_ttl_s, 600u);
  EXPECT_EQ(written->grace_s, 3u);
  EXPECT_EQ(written->budget, 50u);
  EXPECT_FALSE(datapath().learningBudgetUsed().lookup(kPod).has_value());

  ASSERT_EQ(datapath().learningBudgetUsed().update(kOtherPod, 3), 0);
  table_->resetBudgets();
  EXPECT_FALSE(datapath().learningBudgetUsed().lookup(kOtherPod).has_value());
}

// A workload whose queries are policed may query its queryable suffixes (the
// cluster's names) whatever its rules say: each at and below the suffix, under rule 0,
// which the programs learn nothing from.
TEST_F(LearnableNameTableTest, APolicedWorkloadsQueryableSuffixesGoInUnderRuleZero) {
  auto policy = policyOf({"api.example.com"}, {"example.org"});
  policy.queryable_suffixes = std::vector<std::string>{"cluster.local", "corp.internal"};
  const auto result = table_->sync(kPod, &policy);
  EXPECT_EQ(result.added, 6u);
  EXPECT_EQ(result.failed, 0u);

  const auto entries = entriesOf(kPod);
  ASSERT_EQ(entries.size(), 6u);
  for (const std::string suffix : {"cluster.local", "corp.internal"}) {
    for (const auto kind : {SKOUTER_LEARNABLE_EXACT, SKOUTER_LEARNABLE_BELOW}) {
      SCOPED_TRACE(suffix + " kind " + std::to_string(kind));
      const auto entry = entries.find({kind, hashOf(suffix)});
      ASSERT_NE(entry, entries.end());
      EXPECT_EQ(entry->second.rule_id, 0u);
      EXPECT_EQ(entry->second.port_set, 0u);
    }
  }
  EXPECT_EQ(entries.at({SKOUTER_LEARNABLE_EXACT, hashOf("api.example.com")}).rule_id, kExactRule);

  // Its queries no longer policed, the suffixes go; its rules' names stay.
  policy.queryable_suffixes.reset();
  const auto unpoliced = table_->sync(kPod, &policy);
  EXPECT_EQ(unpoliced.removed, 4u);
  EXPECT_EQ(entriesOf(kPod).size(), 2u);
}

// A rule's own entry for a queryable name makes it queryable too, and keeps its rule:
// answers to it are still learned.
TEST_F(LearnableNameTableTest, ARulesOwnEntryForAQueryableNameKeepsItsRule) {
  auto policy = policyOf({"cluster.local"}, {"cluster.local"});
  policy.queryable_suffixes = std::vector<std::string>{"cluster.local"};
  table_->sync(kPod, &policy);
  const auto entries = entriesOf(kPod);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.at({SKOUTER_LEARNABLE_EXACT, hashOf("cluster.local")}).rule_id, kExactRule);
  EXPECT_EQ(entries.at({SKOUTER_LEARNABLE_BELOW, hashOf("cluster.local")}).rule_id, kWildcardRule);
}

// A wildcard over a withheld name (a public DNS-over-HTTPS resolver) allows less than
// every name below it: the programs cannot leave the withheld one out, so the daemon
// judges the names below it.
TEST_F(LearnableNameTableTest, AWildcardCoveringAWithheldNameIsLeftToTheDaemon) {
  auto policy = policyOf({"api.example.com"}, {"google", "example.net", "dns.google"});
  policy.names.withhold({"dns.google"});
  table_->sync(kPod, &policy);
  const auto entries = entriesOf(kPod);
  EXPECT_FALSE(entries.contains({SKOUTER_LEARNABLE_BELOW, hashOf("google")}));
  // Below dns.google lies no withheld name: *.dns.google stays.
  EXPECT_TRUE(entries.contains({SKOUTER_LEARNABLE_BELOW, hashOf("dns.google")}));
  EXPECT_TRUE(entries.contains({SKOUTER_LEARNABLE_BELOW, hashOf("example.net")}));
  EXPECT_TRUE(entries.contains({SKOUTER_LEARNABLE_EXACT, hashOf("api.example.com")}));
  EXPECT_EQ(entries.size(), 3u);
}

TEST(LearnableNameHashTest, IgnoresCaseAndTheTrailingDotAndBuildsOnItsParent) {
  constexpr std::uint64_t kSeed = 0x1234;
  EXPECT_EQ(learnableNameHash(kSeed, "WWW.Example.COM."),
            learnableNameHash(kSeed, "www.example.com"));
  EXPECT_NE(learnableNameHash(kSeed, "www.example.com"), learnableNameHash(kSeed, "example.com"));
  EXPECT_NE(learnableNameHash(kSeed, "www.example.com"),
            learnableNameHash(kSeed + 1, "www.example.com"));
  // Labels, not text: "a.bc" is not "ab.c".
  EXPECT_NE(learnableNameHash(kSeed, "a.bc"), learnableNameHash(kSeed, "ab.c"));

  std::uint64_t www = skouter_label_start(kSeed);
  for (const char byte : std::string("WWW")) www = skouter_label_byte(www, byte);
  EXPECT_EQ(
      learnableNameHash(kSeed, "www.example.com"),
      skouter_suffix_push(learnableNameHash(kSeed, "example.com"), skouter_label_end(www, 3)));
}

}  // namespace
}  // namespace skouter::bpftest
