// AllowedIpTable over the pinned maps of a loaded datapath: what it installs is what
// uplink_egress lets through, and what it evicts or expires is not.
#include "resolver/allowed_ip_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

using resolver::AllowedIpEntry;
using resolver::AllowedIpTable;
using resolver::InstallResult;
using resolver::LearnedAddress;

constexpr std::uint32_t kHost = SKOUTER_HOST_IDENTITY;
constexpr std::uint32_t kPod = 1000;
constexpr policy::RuleId kRule = 7;
constexpr policy::RuleId kOtherRule = 8;
constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kHttpsPort = 443;

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

// Addresses of the documentation ranges, and one IPv6 address.
const IpAddress kA = ip("198.51.100.1");
const IpAddress kB = ip("198.51.100.2");
const IpAddress kC = ip("198.51.100.3");
const IpAddress kD = ip("198.51.100.4");
const IpAddress kV6 = ip("2001:db8:1::1");

// What an entry says, as text, so failures show the whole table.
struct Entry {
  std::uint32_t identity;
  std::string ip;
  std::uint64_t expiry_ns;
  policy::RuleId rule;
  std::vector<std::string> names;
  auto operator<=>(const Entry&) const = default;
};

void PrintTo(const Entry& entry, std::ostream* out) {
  *out << "{identity " << entry.identity << " " << entry.ip << " expiry " << entry.expiry_ns
       << " rule " << entry.rule << " names";
  for (const auto& name : entry.names) *out << " " << name;
  *out << "}";
}

class AllowedIpTableTest : public DatapathFixture {
 protected:
  void SetUp() override {
    DatapathFixture::SetUp();
    now_ = monotonicNowNs();
    port_sets_ = std::make_unique<resolver::PortSetTable>(datapath().portSets());
  }

  AllowedIpTable table(std::size_t max_ips_per_name = 0) {
    return AllowedIpTable(datapath().allowedIps(), datapath().learnedNames(), *port_sets_,
                          max_ips_per_name);
  }

  // An address expiring `seconds` from the start of the test.
  LearnedAddress in(const IpAddress& address, std::uint64_t seconds) const {
    return LearnedAddress{.ip = address,
                          .ttl_s = static_cast<std::uint32_t>(seconds),
                          .expiry_ns = now_ + seconds * kNanosPerSecond};
  }
  std::uint64_t at(std::uint64_t seconds) const { return now_ + seconds * kNanosPerSecond; }

  // The table's entries, sorted.
  static std::vector<Entry> entriesOf(const AllowedIpTable& table) {
    std::vector<Entry> result;
    for (const AllowedIpEntry& entry : table.entries()) {
      result.push_back(
          {entry.identity, entry.ip.toString(), entry.expiry_ns, entry.rule, entry.names});
    }
    std::sort(result.begin(), result.end());
    return result;
  }

  // The names learned_names holds, by address, read from the map itself.
  std::map<std::string, std::vector<std::string>> learnedNames() {
    std::map<std::string, std::vector<std::string>> result;
    datapath().learnedNames().forEach(
        [&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
          result[resolver::fromBpfAddr(key.ip.ip).toString()].push_back(value.name);
        });
    for (auto& [address, names] : result) std::sort(names.begin(), names.end());
    return result;
  }

  // What uplink_egress makes of a new connection of the host to `address`. Each one
  // is from a port of its own: a connection once allowed keeps its flow, whatever
  // becomes of the address.
  Verdict synTo(const IpAddress& address) {
    const IpAddress& host =
        address.family == IpFamily::kV4 ? ipv4Network().host : ipv6Network().host;
    return runUplinkEgress(
        PacketBuilder(host, address).tcp(next_port_++, kHttpsPort, kTcpSyn).build());
  }

  std::uint64_t now_ = 0;
  std::uint16_t next_port_ = kHostPort;
  std::unique_ptr<resolver::PortSetTable> port_sets_;
};

TEST_F(AllowedIpTableTest, InstalledAddressesAreAllowedWithTheirExpiryRuleAndName) {
  AllowedIpTable allowed = table();
  ASSERT_EQ(synTo(kA), Verdict::kDrop);

  const InstallResult result =
      allowed.install(kHost, {in(kA, 60), in(kV6, 300)}, "example.com", kRule);
  EXPECT_EQ(result.installed, 2u);
  EXPECT_EQ(result.failed, 0u);
  EXPECT_EQ(result.evicted, 0u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(60), kRule, {"example.com"}},
                                    {kHost, kV6.toString(), at(300), kRule, {"example.com"}},
                                }));
  EXPECT_EQ(allowed.size(), 2u);

  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(synTo(kV6), Verdict::kPass);
  EXPECT_EQ(counters(), (Counters{{"egress_denied", 1}, {"egress_allowed_learned", 2}}));
}

TEST_F(AllowedIpTableTest, AddressesAreAllowedOnlyForTheirIdentity) {
  AllowedIpTable allowed = table();
  allowed.install(kPod, {in(kA, 60)}, "example.com", kRule);
  // The host's own traffic is identity 1: a pod's answer opens nothing for it.
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{{kPod, kA.toString(), at(60), kRule, {"example.com"}}}));
}

TEST_F(AllowedIpTableTest, ReinstallingKeepsTheLaterExpiry) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 300)}, "example.com", kRule);

  // A shorter TTL in a later answer does not cut the address short...
  EXPECT_EQ(allowed.install(kHost, {in(kA, 60)}, "example.com", kOtherRule).installed, 1u);
  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{{kHost, kA.toString(), at(300), kOtherRule, {"example.com"}}}));

  // ...and a longer one extends it.
  allowed.install(kHost, {in(kA, 900)}, "example.com", kRule);
  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{{kHost, kA.toString(), at(900), kRule, {"example.com"}}}));
}

TEST_F(AllowedIpTableTest, EveryNameThatResolvedToAnAddressIsRecorded) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60)}, "www.example.com", kRule);
  allowed.install(kHost, {in(kA, 60), in(kB, 60)}, "cdn.example.net", kRule);
  allowed.install(kHost, {in(kA, 60)}, "www.example.com", kRule);  // again: no duplicate

  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{
                {kHost, kA.toString(), at(60), kRule, {"cdn.example.net", "www.example.com"}},
                {kHost, kB.toString(), at(60), kRule, {"cdn.example.net"}},
            }));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kA.toString(), {"cdn.example.net", "www.example.com"}},
                                {kB.toString(), {"cdn.example.net"}},
                            }));
}

TEST_F(AllowedIpTableTest, BeyondTheLimitTheLeastRecentlyAnsweredAddressGoes) {
  AllowedIpTable allowed = table(2);
  allowed.install(kHost, {in(kA, 600)}, "cdn.example", kRule);
  allowed.install(kHost, {in(kB, 600)}, "cdn.example", kRule);
  ASSERT_EQ(synTo(kA), Verdict::kPass);

  // A third address: A was answered longest ago.
  InstallResult result = allowed.install(kHost, {in(kC, 600)}, "cdn.example", kRule);
  EXPECT_EQ(result.installed, 1u);
  EXPECT_EQ(result.evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(600), kRule, {"cdn.example"}},
                                    {kHost, kC.toString(), at(600), kRule, {"cdn.example"}},
                                }));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kB.toString(), {"cdn.example"}},
                                {kC.toString(), {"cdn.example"}},
                            }));
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
  EXPECT_EQ(synTo(kC), Verdict::kPass);

  // B is in a new answer: now C is the least recently answered, whatever the expiries.
  allowed.install(kHost, {in(kB, 60)}, "cdn.example", kRule);
  result = allowed.install(kHost, {in(kD, 60)}, "cdn.example", kRule);
  EXPECT_EQ(result.evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(600), kRule, {"cdn.example"}},
                                    {kHost, kD.toString(), at(60), kRule, {"cdn.example"}},
                                }));
}

TEST_F(AllowedIpTableTest, LimitCountsEachNameOfEachIdentityApart) {
  AllowedIpTable allowed = table(1);
  allowed.install(kHost, {in(kA, 60)}, "one.example", kRule);
  allowed.install(kHost, {in(kB, 60)}, "two.example", kRule);
  allowed.install(kPod, {in(kC, 60)}, "one.example", kRule);
  EXPECT_EQ(allowed.size(), 3u);

  EXPECT_EQ(allowed.install(kHost, {in(kD, 60)}, "one.example", kRule).evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(60), kRule, {"two.example"}},
                                    {kHost, kD.toString(), at(60), kRule, {"one.example"}},
                                    {kPod, kC.toString(), at(60), kRule, {"one.example"}},
                                }));
}

TEST_F(AllowedIpTableTest, NoLimitKeepsEveryAddress) {
  AllowedIpTable allowed = table(0);
  std::vector<LearnedAddress> many;
  for (int i = 1; i <= 50; ++i) {
    many.push_back(in(ip(("203.0.113." + std::to_string(i)).c_str()), 60));
  }
  const InstallResult result = allowed.install(kHost, many, "big.example", kRule);
  EXPECT_EQ(result.installed, 50u);
  EXPECT_EQ(result.evicted, 0u);
  EXPECT_EQ(allowed.size(), 50u);
}

TEST_F(AllowedIpTableTest, AnAddressAnotherNameHoldsSurvivesEvictionFromOne) {
  AllowedIpTable allowed = table(1);
  allowed.install(kHost, {in(kA, 60)}, "one.example", kRule);
  allowed.install(kHost, {in(kA, 60)}, "two.example", kRule);

  // one.example moves on to B: A loses that name but two.example still holds it open.
  EXPECT_EQ(allowed.install(kHost, {in(kB, 60)}, "one.example", kRule).evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(60), kRule, {"two.example"}},
                                    {kHost, kB.toString(), at(60), kRule, {"one.example"}},
                                }));
  EXPECT_EQ(synTo(kA), Verdict::kPass);

  // Now two.example moves on too: nothing holds A any more.
  EXPECT_EQ(allowed.install(kHost, {in(kC, 60)}, "two.example", kRule).evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(60), kRule, {"one.example"}},
                                    {kHost, kC.toString(), at(60), kRule, {"two.example"}},
                                }));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kB.toString(), {"one.example"}},
                                {kC.toString(), {"two.example"}},
                            }));
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
}

TEST_F(AllowedIpTableTest, RemoveExpiredTakesTheAddressesAndTheirNames) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 10), in(kB, 20)}, "one.example", kRule);
  allowed.install(kHost, {in(kA, 10), in(kC, 30)}, "two.example", kRule);

  EXPECT_EQ(allowed.removeExpired(at(5)), 0u);
  // At the expiry itself the address is gone (uplink_egress agrees: expiry <= now).
  EXPECT_EQ(allowed.removeExpired(at(10)), 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(20), kRule, {"one.example"}},
                                    {kHost, kC.toString(), at(30), kRule, {"two.example"}},
                                }));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kB.toString(), {"one.example"}},
                                {kC.toString(), {"two.example"}},
                            }));
  EXPECT_EQ(allowed.removeExpired(at(1000)), 2u);
  EXPECT_EQ(allowed.size(), 0u);
  EXPECT_EQ(learnedNames().size(), 0u);
}

TEST_F(AllowedIpTableTest, ExpiredAddressesNoLongerCountAgainstTheLimit) {
  AllowedIpTable allowed = table(2);
  allowed.install(kHost, {in(kA, 10)}, "cdn.example", kRule);
  allowed.install(kHost, {in(kB, 600)}, "cdn.example", kRule);
  ASSERT_EQ(allowed.removeExpired(at(10)), 1u);

  // A is gone already: C fits beside B and nothing is evicted.
  const InstallResult result = allowed.install(kHost, {in(kC, 600)}, "cdn.example", kRule);
  EXPECT_EQ(result.evicted, 0u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kB.toString(), at(600), kRule, {"cdn.example"}},
                                    {kHost, kC.toString(), at(600), kRule, {"cdn.example"}},
                                }));
  // An address learned again after it expired counts once.
  allowed.install(kHost, {in(kA, 900)}, "cdn.example", kRule);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(900), kRule, {"cdn.example"}},
                                    {kHost, kC.toString(), at(600), kRule, {"cdn.example"}},
                                }));
}

TEST_F(AllowedIpTableTest, ARestartedTableContinuesWhereTheLastStopped) {
  {
    AllowedIpTable first = table(2);
    first.install(kHost, {in(kA, 100)}, "cdn.example", kRule);
    first.install(kHost, {in(kB, 200)}, "cdn.example", kRule);
    first.install(kHost, {in(kD, 100)}, "one.example", kRule);
    first.install(kHost, {in(kD, 100)}, "two.example", kRule);
  }
  // A new daemon over the same pinned maps.
  AllowedIpTable second = table(2);
  EXPECT_EQ(second.size(), 3u);

  // cdn.example already holds two addresses: a third evicts the older one, A.
  InstallResult result = second.install(kHost, {in(kC, 300)}, "cdn.example", kRule);
  EXPECT_EQ(result.evicted, 1u);
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
  EXPECT_EQ(synTo(kB), Verdict::kPass);

  // D is held by two names; losing one of them keeps it.
  second.install(kHost, {in(kA, 400)}, "one.example", kRule);
  second.install(kHost, {in(kB, 400)}, "one.example", kRule);
  EXPECT_EQ(entriesOf(second),
            (std::vector<Entry>{
                {kHost, kA.toString(), at(400), kRule, {"one.example"}},
                {kHost, kB.toString(), at(400), kRule, {"cdn.example", "one.example"}},
                {kHost, kC.toString(), at(300), kRule, {"cdn.example"}},
                {kHost, kD.toString(), at(100), kRule, {"two.example"}},
            }));

  // And expiry keeps the rebuilt indexes in step: once D expires, two.example holds
  // nothing, so two new addresses of it evict nothing.
  EXPECT_EQ(second.removeExpired(at(100)), 1u);
  EXPECT_EQ(second.install(kHost, {in(kV6, 500), in(kC, 500)}, "two.example", kRule).evicted, 0u);
  EXPECT_EQ(second.size(), 4u);
}

TEST_F(AllowedIpTableTest, ALoweredLimitAppliesAtTheNameNextAnswer) {
  {
    AllowedIpTable unlimited = table(0);
    unlimited.install(kHost, {in(kA, 100), in(kB, 200), in(kC, 300)}, "cdn.example", kRule);
  }
  AllowedIpTable limited = table(2);
  // Nothing is evicted behind the workload's back: only the name's next answer trims it,
  // least recently answered first.
  EXPECT_EQ(limited.size(), 3u);
  EXPECT_EQ(limited.install(kHost, {in(kD, 400)}, "cdn.example", kRule).evicted, 2u);
  EXPECT_EQ(entriesOf(limited), (std::vector<Entry>{
                                    {kHost, kC.toString(), at(300), kRule, {"cdn.example"}},
                                    {kHost, kD.toString(), at(400), kRule, {"cdn.example"}},
                                }));
}

}  // namespace
}  // namespace skouter::bpftest
