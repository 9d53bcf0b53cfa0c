// AllowedIpTable over the pinned maps of a loaded datapath: what it installs is what
// uplink_egress lets through, and what it evicts or expires is not.
#include "bpf/maps/allowed_ip_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "bpf/maps/bpf_address.h"
#include "tests/bpf/datapath_fixture.h"
#include "tests/bpf/packet_builder.h"

namespace skouter::bpftest {
namespace {

using maps::AllowedIpEntry;
using maps::AllowedIpTable;
using maps::InstallResult;
using maps::NamePolicy;
using maps::NameVerdict;
using maps::PortSetTable;
using resolver::LearnedAddress;

constexpr std::uint32_t kHost = SKOUTER_HOST_IDENTITY;
constexpr std::uint32_t kPod = 1000;
constexpr policy::RuleId kRule = 7;
constexpr policy::RuleId kOtherRule = 8;
constexpr std::uint16_t kHostPort = 40000;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::uint16_t kHttpPort = 80;
constexpr std::uint16_t kSshPort = 22;

policy::PortSet tcp(std::uint16_t first, std::uint16_t last) {
  return {{policy::PortProtocol::kTcp, first, last}};
}
policy::PortSet tcp(std::uint16_t port) { return tcp(port, port); }
policy::PortSet udp(std::uint16_t port) { return {{policy::PortProtocol::kUdp, port, port}}; }

// A policy allowing exactly `names`, each with its rule and ports.
NamePolicy allowing(std::map<std::string, NameVerdict> names) {
  return [names](const std::string& name) -> std::optional<NameVerdict> {
    const auto found = names.find(name);
    if (found == names.end()) return std::nullopt;
    return found->second;
  };
}

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
    now_ = datapathNowNs();
    port_sets_ = std::make_unique<maps::PortSetTable>(datapath().portSets());
  }

  AllowedIpTable table(std::size_t max_ips_per_name = 0, std::size_t max_names_per_ip = 0,
                       std::size_t max_ips_per_workload = 0) {
    return AllowedIpTable(datapath().allowedIps(), datapath().learnedNames(), *port_sets_,
                          max_ips_per_name, max_names_per_ip, max_ips_per_workload);
  }

  // Entries in allowed_ips, counted by walking the map.
  std::size_t walkedSize() {
    std::size_t count = 0;
    datapath().allowedIps().forEach([&](const auto&, const auto&) { ++count; });
    return count;
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
          result[maps::fromBpfAddr(key.ip.ip).toString()].push_back(value.name);
        });
    for (auto& [address, names] : result) std::sort(names.begin(), names.end());
    return result;
  }

  // What uplink_egress makes of a new connection of the host to `address`. Each one
  // is from a port of its own: a connection once allowed keeps its flow, whatever
  // becomes of the address.
  Verdict synTo(const IpAddress& address, std::uint16_t port = kHttpsPort) {
    const IpAddress& host =
        address.family == IpFamily::kV4 ? ipv4Network().host : ipv6Network().host;
    return runUplinkEgress(PacketBuilder(host, address).tcp(next_port_++, port, kTcpSyn).build());
  }
  Verdict udpTo(const IpAddress& address, std::uint16_t port) {
    const IpAddress& host =
        address.family == IpFamily::kV4 ? ipv4Network().host : ipv6Network().host;
    return runUplinkEgress(PacketBuilder(host, address).udp(next_port_++, port).build());
  }

  // The ports of each entry of `identity` as entries() reports them, by address.
  static std::map<std::string, std::string> portsOf(const AllowedIpTable& table,
                                                    std::uint32_t identity = kHost) {
    std::map<std::string, std::string> result;
    for (const AllowedIpEntry& entry : table.entries()) {
      if (entry.identity == identity)
        result[entry.ip.toString()] = policy::describePorts(entry.ports);
    }
    return result;
  }

  // The ids port_sets holds, read from the map itself.
  std::set<std::uint32_t> portSetIds() {
    std::set<std::uint32_t> ids;
    datapath().portSets().forEach(
        [&](const std::uint32_t& id, const skouter_port_set&) { ids.insert(id); });
    return ids;
  }

  std::uint64_t now_ = 0;
  std::uint16_t next_port_ = kHostPort;
  std::unique_ptr<maps::PortSetTable> port_sets_;
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
  EXPECT_EQ(
      counters(),
      (HookCounters{{"uplink_egress", {{"egress_denied", 1}, {"egress_allowed_learned", 2}}}}));
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

// What goes is shown to the caller first (daemon/expired_addresses.h remembers it, to
// tell late connections), with how long its last answer kept it open.
TEST_F(AllowedIpTableTest, RemoveExpiredShowsEachEntryItRemoves) {
  AllowedIpTable allowed = table();
  LearnedAddress a = in(kA, 10);
  a.open_for_s = 10;
  allowed.install(kHost, {a, in(kB, 20)}, "one.example", kRule);
  allowed.install(kHost, {in(kA, 5)}, "two.example", kRule);  // an earlier expiry: kept

  std::vector<AllowedIpEntry> removed;
  EXPECT_EQ(allowed.removeExpired(at(10), 16,
                                  [&](const AllowedIpEntry& entry) { removed.push_back(entry); }),
            1u);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].ip, kA);
  EXPECT_EQ(removed[0].expiry_ns, at(10));
  EXPECT_EQ(removed[0].rule, kRule);
  EXPECT_EQ(removed[0].names, (std::vector<std::string>{"one.example", "two.example"}));
  EXPECT_EQ(removed[0].open_for_s, 10u);
}

// The sweep goes by the expiry the entry has now, not the one it had when first
// installed; an address removed and learned again is swept once, at its own expiry.
TEST_F(AllowedIpTableTest, RemoveExpiredFollowsExtendedAndReusedEntries) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 10), in(kB, 10)}, "one.example", kRule);
  allowed.install(kHost, {in(kA, 40)}, "one.example", kRule);
  EXPECT_EQ(allowed.removeExpired(at(10)), 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(40), kRule, {"one.example"}},
                                }));
  // B comes back (in the slot B had) and outlives its first expiry.
  allowed.install(kHost, {in(kB, 60)}, "two.example", kRule);
  EXPECT_EQ(allowed.removeExpired(at(39)), 0u);
  EXPECT_EQ(allowed.removeExpired(at(40)), 1u);
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
  EXPECT_EQ(synTo(kB), Verdict::kPass);
  EXPECT_EQ(allowed.removeExpired(at(60)), 1u);
  EXPECT_EQ(allowed.size(), 0u);
  EXPECT_EQ(walkedSize(), 0u);
  EXPECT_EQ(learnedNames().size(), 0u);
}

// An entry no learned name holds (a daemon killed between removing a name and its
// address) is found at start, listed, and still expires; one an answer names again
// is the table's like any other.
TEST_F(AllowedIpTableTest, AnEntryWithoutANameFoundAtStartStillExpires) {
  allowIp(kC, at(20));
  allowIp(kD, at(20));
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 30), in(kD, 10)}, "one.example", kRule);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(30), kRule, {"one.example"}},
                                    {kHost, kC.toString(), at(20), 0, {}},
                                    {kHost, kD.toString(), at(20), kRule, {"one.example"}},
                                }));
  EXPECT_EQ(allowed.removeExpired(at(19)), 0u);
  EXPECT_EQ(allowed.removeExpired(at(20)), 2u);
  EXPECT_EQ(synTo(kC), Verdict::kDrop);
  EXPECT_EQ(synTo(kD), Verdict::kDrop);
  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(learnedNames().size(), 1u);
}

// A caller on the event loop removes a few at a time; what is left goes next time.
TEST_F(AllowedIpTableTest, RemoveExpiredStopsAtItsLimitAndCarriesOn) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 10), in(kB, 10), in(kC, 10)}, "one.example", kRule);
  allowed.install(kHost, {in(kD, 11)}, "two.example", kRule);
  EXPECT_EQ(allowed.removeExpired(at(20), 2), 2u);
  EXPECT_EQ(allowed.size(), 2u);
  EXPECT_EQ(allowed.removeExpired(at(20), 2), 2u);
  EXPECT_EQ(allowed.removeExpired(at(20), 2), 0u);
  EXPECT_EQ(allowed.size(), 0u);
  EXPECT_EQ(walkedSize(), 0u);
  EXPECT_EQ(learnedNames().size(), 0u);
}

// /v1/entries lists the table in pieces, on later turns of the loop, while answers
// change it: what stays throughout is listed once, whatever came and went between.
TEST_F(AllowedIpTableTest, AListingInPiecesSeesWhatStaysOnce) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60), in(kB, 60), in(kC, 10)}, "one.example", kRule);
  AllowedIpTable::EntryCursor cursor;
  std::multiset<std::string> listed;
  const auto listTwo = [&] {
    for (const AllowedIpEntry& entry : allowed.entries(cursor, 2)) {
      listed.insert(entry.ip.toString());
    }
  };
  listTwo();
  EXPECT_FALSE(cursor.done);
  // Between pieces: one address goes, two come.
  EXPECT_EQ(allowed.removeExpired(at(10)), 1u);
  EXPECT_EQ(allowed.install(kHost, {in(kD, 60)}, "two.example", kRule).installed, 1u);
  allowed.install(kHost, {in(kV6, 60)}, "one.example", kRule);
  while (!cursor.done) listTwo();
  for (const IpAddress& stayed : {kA, kB}) {
    EXPECT_EQ(listed.count(stayed.toString()), 1u) << stayed.toString();
  }
  EXPECT_LE(listed.size(), 5u);
  // And whole, it is what entries() says.
  AllowedIpTable::EntryCursor again;
  std::size_t count = 0;
  while (!again.done) count += allowed.entries(again, 2).size();
  EXPECT_EQ(count, allowed.entries().size());
  EXPECT_EQ(count, allowed.size());
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

// Ports: an address opens the ports of the names that resolved to it, and only those.

TEST_F(AllowedIpTableTest, AnAddressOpensOnlyThePortsOfItsName) {
  AllowedIpTable allowed = table();
  const InstallResult result =
      allowed.install(kHost, {in(kA, 60), in(kV6, 60)}, "web.example", kRule, tcp(kHttpsPort));
  EXPECT_EQ(result.installed, 2u);
  EXPECT_EQ(result.failed, 0u);

  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(udpTo(kA, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kV6, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kV6, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(
      counters(),
      (HookCounters{
          {"uplink_egress",
           {{"egress_allowed_learned", 2}, {"egress_port_denied", 3}, {"egress_denied", 3}}}}));
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{
                                  {kA.toString(), "443/TCP"},
                                  {kV6.toString(), "443/TCP"},
                              }));
  // Both addresses share one interned set.
  EXPECT_EQ(port_sets_->size(), 1u);
  EXPECT_EQ(allowed.portSetsInUse(), portSetIds());
}

TEST_F(AllowedIpTableTest, ARangeOfPortsIsOpenedWhole) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60)}, "alt.example", kRule, tcp(8000, 8080));
  EXPECT_EQ(synTo(kA, 7999), Verdict::kDrop);
  EXPECT_EQ(synTo(kA, 8000), Verdict::kPass);
  EXPECT_EQ(synTo(kA, 8080), Verdict::kPass);
  EXPECT_EQ(synTo(kA, 8081), Verdict::kDrop);
  EXPECT_EQ(portsOf(allowed),
            (std::map<std::string, std::string>{{kA.toString(), "8000-8080/TCP"}}));
}

TEST_F(AllowedIpTableTest, TwoNamesOfOneAddressOpenThePortsOfBoth) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60)}, "web.example", kRule, tcp(kHttpsPort));
  allowed.install(kHost, {in(kA, 60)}, "ssh.example", kOtherRule, tcp(kSshPort));
  allowed.install(kHost, {in(kA, 60)}, "dns.example", kOtherRule, udp(kDnsPort));

  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kPass);
  EXPECT_EQ(udpTo(kA, kDnsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(portsOf(allowed),
            (std::map<std::string, std::string>{{kA.toString(), "22/TCP, 443/TCP, 53/UDP"}}));

  // A name of every port opens every port, whatever the others say.
  allowed.install(kHost, {in(kA, 60)}, "any.example", kRule);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kPass);
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{{kA.toString(), "any port"}}));
  EXPECT_EQ(allowed.portSetsInUse(), (std::set<std::uint32_t>{0}));
}

TEST_F(AllowedIpTableTest, ApplyPolicyNarrowingANamesPortsTakesEffect) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60), in(kB, 60)}, "web.example", kRule, tcp(kHttpsPort));
  // Another name of B keeps its own ports.
  allowed.install(kHost, {in(kB, 60)}, "ssh.example", kRule, tcp(kSshPort));
  // A name of another identity is not this policy's business.
  allowed.install(kPod, {in(kA, 60)}, "web.example", kRule, tcp(kHttpsPort));
  ASSERT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);

  // The policy now opens web.example on 8443 only.
  EXPECT_EQ(allowed.applyPolicy(kHost, allowing({{"web.example", {kRule, tcp(8443)}},
                                                 {"ssh.example", {kRule, tcp(kSshPort)}}})),
            0u);
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kA, 8443), Verdict::kPass);
  EXPECT_EQ(synTo(kB, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kB, kSshPort), Verdict::kPass);
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{
                                  {kA.toString(), "8443/TCP"},
                                  {kB.toString(), "22/TCP, 8443/TCP"},
                              }));
  EXPECT_EQ(portsOf(allowed, kPod),
            (std::map<std::string, std::string>{{kA.toString(), "443/TCP"}}));

  // And widening to every port takes effect as well.
  allowed.applyPolicy(
      kHost, allowing({{"web.example", {kRule, {}}}, {"ssh.example", {kRule, tcp(kSshPort)}}}));
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kPass);
  EXPECT_EQ(synTo(kB, kHttpPort), Verdict::kPass);

  // The sets no entry uses any more can go (0, every port, is in no map).
  port_sets_->retainOnly(allowed.portSetsInUse());
  std::set<std::uint32_t> stored = allowed.portSetsInUse();
  EXPECT_EQ(stored.erase(0), 1u);
  EXPECT_EQ(portSetIds(), stored);
}

TEST_F(AllowedIpTableTest, ApplyPolicyRemovingANameRemovesItsOnlyAddresses) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60), in(kB, 60)}, "gone.example", kRule, tcp(kHttpPort));
  allowed.install(kHost, {in(kB, 60)}, "kept.example", kOtherRule, tcp(kHttpsPort));
  ASSERT_EQ(synTo(kA, kHttpPort), Verdict::kPass);
  ASSERT_EQ(synTo(kB, kHttpPort), Verdict::kPass);

  EXPECT_EQ(allowed.applyPolicy(kHost, allowing({{"kept.example", {kOtherRule, tcp(kHttpsPort)}}})),
            1u);
  // A is gone; B stays for kept.example, on its ports alone.
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kB, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kB, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{{kB.toString(), "443/TCP"}}));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kB.toString(), {"kept.example"}},
                            }));
  // A name removed and learned again starts afresh with the ports it is given.
  allowed.install(kHost, {in(kA, 60)}, "gone.example", kRule, tcp(kSshPort));
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
}

TEST_F(AllowedIpTableTest, ARestartedTableRewritesStalePortSetsOnApplyPolicy) {
  {
    AllowedIpTable first = table();
    first.install(kHost, {in(kA, 600), in(kV6, 600)}, "web.example", kRule,
                  tcp(kHttpsPort, kHttpsPort));
    first.install(kHost, {in(kA, 600)}, "alt.example", kRule, tcp(8443));
  }
  // A new daemon: a new table of port sets over the pinned map, and a new table.
  PortSetTable restarted_sets(datapath().portSets());
  EXPECT_EQ(restarted_sets.size(), port_sets_->size());
  AllowedIpTable second(datapath().allowedIps(), datapath().learnedNames(), restarted_sets);
  // Until the policy is applied, the pinned entries keep what the last daemon wrote.
  EXPECT_EQ(synTo(kA, 8443), Verdict::kPass);
  EXPECT_EQ(portsOf(second), (std::map<std::string, std::string>{
                                 {kA.toString(), "443/TCP, 8443/TCP"},
                                 {kV6.toString(), "443/TCP"},
                             }));

  // The policy changed while no daemon ran: web.example opens 80, alt.example is gone.
  EXPECT_EQ(second.applyPolicy(kHost, allowing({{"web.example", {kRule, tcp(kHttpPort)}}})), 0u);
  EXPECT_EQ(synTo(kA, 8443), Verdict::kDrop);
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kPass);
  EXPECT_EQ(synTo(kV6, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kV6, kHttpPort), Verdict::kPass);
  EXPECT_EQ(portsOf(second), (std::map<std::string, std::string>{
                                 {kA.toString(), "80/TCP"},
                                 {kV6.toString(), "80/TCP"},
                             }));
  restarted_sets.retainOnly(second.portSetsInUse());
  EXPECT_EQ(portSetIds(), second.portSetsInUse());
  EXPECT_EQ(restarted_sets.size(), 1u);
}

TEST_F(AllowedIpTableTest, AfterARestartANewNameOfAnAddressAddsToThePortsThePolicyGives) {
  // Names read back from the pins open every port until the policy says otherwise:
  // once it has, a second name of the address adds its ports to those, not to every port.
  {
    AllowedIpTable first = table();
    first.install(kHost, {in(kA, 600)}, "web.example", kRule, tcp(kHttpsPort));
  }
  PortSetTable restarted_sets(datapath().portSets());
  AllowedIpTable second(datapath().allowedIps(), datapath().learnedNames(), restarted_sets);
  second.applyPolicy(kHost, allowing({{"web.example", {kRule, tcp(kHttpsPort)}},
                                      {"ssh.example", {kRule, tcp(kSshPort)}}}));
  second.install(kHost, {in(kA, 600)}, "ssh.example", kRule, tcp(kSshPort));
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
  EXPECT_EQ(portsOf(second),
            (std::map<std::string, std::string>{{kA.toString(), "22/TCP, 443/TCP"}}));
}

TEST_F(AllowedIpTableTest, AnAddressEvictedFromANameLosesThatNamesPorts) {
  AllowedIpTable allowed = table(1);
  allowed.install(kHost, {in(kA, 60)}, "web.example", kRule, tcp(kHttpsPort));
  allowed.install(kHost, {in(kA, 60)}, "ssh.example", kRule, tcp(kSshPort));
  ASSERT_EQ(synTo(kA, kSshPort), Verdict::kPass);

  // ssh.example moves on to B: A keeps web.example, and only its port.
  EXPECT_EQ(allowed.install(kHost, {in(kB, 60)}, "ssh.example", kRule, tcp(kSshPort)).evicted, 1u);
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kDrop);
  EXPECT_EQ(synTo(kB, kSshPort), Verdict::kPass);
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{
                                  {kA.toString(), "443/TCP"},
                                  {kB.toString(), "22/TCP"},
                              }));
}

// Bounds: what the table keeps in memory and in learned_names is what its entries
// need, however many names answers bring.

TEST_F(AllowedIpTableTest, AnswersWithoutAddressesLeaveNothingBehind) {
  AllowedIpTable allowed = table(1000, 64);
  // NXDOMAIN, NODATA, SERVFAIL for random names under an allowed wildcard.
  for (int i = 0; i < 20000; ++i) {
    const InstallResult result =
        allowed.install(kHost, {}, "n" + std::to_string(i) + ".random.test", kRule, tcp(443));
    ASSERT_EQ(result.installed + result.failed + result.evicted + result.names_evicted, 0u);
  }
  EXPECT_EQ(allowed.names(), 0u);
  EXPECT_EQ(allowed.nameCount(), 0u);
  EXPECT_EQ(allowed.size(), 0u);
  EXPECT_EQ(learnedNames().size(), 0u);
}

TEST_F(AllowedIpTableTest, BeyondMaxNamesPerIpTheNameLeastRecentlyAnsweredWithItGoes) {
  AllowedIpTable allowed = table(0, 3);
  for (const char* name : {"a.example", "b.example", "c.example"}) {
    EXPECT_EQ(allowed.install(kHost, {in(kA, 60)}, name, kRule).names_evicted, 0u);
  }
  // a.example is answered again: b.example is now the least recent.
  allowed.install(kHost, {in(kA, 60)}, "a.example", kRule);
  const InstallResult result = allowed.install(kHost, {in(kA, 60)}, "d.example", kRule);
  EXPECT_EQ(result.installed, 1u);
  EXPECT_EQ(result.names_evicted, 1u);
  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{
                {kHost, kA.toString(), at(60), kRule, {"a.example", "c.example", "d.example"}}}));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kA.toString(), {"a.example", "c.example", "d.example"}}}));
  EXPECT_EQ(allowed.names(), 3u);
  EXPECT_EQ(allowed.nameCount(), 3u);
  // The address is still open: other names hold it.
  EXPECT_EQ(synTo(kA), Verdict::kPass);
}

TEST_F(AllowedIpTableTest, RandomNamesOfOneAddressNeverGrowTheTable) {
  AllowedIpTable allowed = table(1000, 64);
  std::size_t evicted = 0;
  for (int i = 0; i < 20000; ++i) {
    const InstallResult result = allowed.install(kHost, {in(kA, 60), in(kV6, 60)},
                                                 "n" + std::to_string(i) + ".random.test", kRule);
    ASSERT_EQ(result.failed, 0u);
    evicted += result.names_evicted;
    ASSERT_LE(allowed.nameCount(), 2u * 64) << i;
    ASSERT_LE(allowed.names(), 64u) << i;
  }
  EXPECT_EQ(evicted, 2u * (20000 - 64));
  EXPECT_EQ(allowed.size(), 2u);
  const auto names = learnedNames();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names.at(kA.toString()).size(), 64u);
  EXPECT_EQ(names.at(kV6.toString()).size(), 64u);
  // The 64 most recent.
  EXPECT_EQ(names.at(kA.toString()).front(), "n19936.random.test");
}

TEST_F(AllowedIpTableTest, ANameGivenUpByAnAddressTakesItsPortsAlong) {
  AllowedIpTable allowed = table(0, 1);
  allowed.install(kHost, {in(kA, 60)}, "web.example", kRule, tcp(kHttpsPort));
  ASSERT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(allowed.install(kHost, {in(kA, 60)}, "ssh.example", kRule, tcp(kSshPort)).names_evicted,
            1u);
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kDrop);
  EXPECT_EQ(portsOf(allowed), (std::map<std::string, std::string>{{kA.toString(), "22/TCP"}}));
  // web.example held no other address: it is forgotten, and a policy change finds
  // nothing of it.
  EXPECT_EQ(allowed.names(), 1u);
  EXPECT_EQ(allowed.applyPolicy(kHost, allowing({{"ssh.example", {kRule, tcp(kSshPort)}}})), 0u);
  EXPECT_EQ(synTo(kA, kSshPort), Verdict::kPass);
}

TEST_F(AllowedIpTableTest, ANameGoesWithItsLastAddress) {
  AllowedIpTable allowed = table(1, 64);
  allowed.install(kHost, {in(kA, 10)}, "one.example", kRule);
  allowed.install(kHost, {in(kB, 20)}, "two.example", kRule);
  EXPECT_EQ(allowed.names(), 2u);
  // Expiry takes one.example's only address, and the name with it.
  EXPECT_EQ(allowed.removeExpired(at(10)), 1u);
  EXPECT_EQ(allowed.names(), 1u);
  EXPECT_EQ(allowed.nameCount(), 1u);
  // Eviction beyond --max-ips-per-name moves two.example from B to C: still one name.
  EXPECT_EQ(allowed.install(kHost, {in(kC, 20)}, "two.example", kRule).evicted, 1u);
  EXPECT_EQ(allowed.names(), 1u);
  EXPECT_EQ(allowed.nameCount(), 1u);
  EXPECT_EQ(allowed.removeExpired(at(1000)), 1u);
  EXPECT_EQ(allowed.names(), 0u);
  EXPECT_EQ(allowed.nameCount(), 0u);
  EXPECT_EQ(learnedNames().size(), 0u);
}

TEST_F(AllowedIpTableTest, ARestartedTableKeepsNoMoreNamesPerAddressThanItsLimit) {
  {
    AllowedIpTable unlimited = table(0, 0);
    for (int i = 0; i < 10; ++i) {
      unlimited.install(kHost, {in(kA, 60)}, "n" + std::to_string(i) + ".example", kRule,
                        tcp(kHttpsPort));
    }
    ASSERT_EQ(learnedNames().at(kA.toString()).size(), 10u);
  }
  AllowedIpTable limited = table(0, 3);
  EXPECT_EQ(limited.nameCount(), 3u);
  EXPECT_EQ(limited.names(), 3u);
  EXPECT_EQ(learnedNames().at(kA.toString()).size(), 3u);
  // The entry keeps what the last daemon wrote until the policy is applied.
  EXPECT_EQ(synTo(kA, kHttpsPort), Verdict::kPass);
  EXPECT_EQ(synTo(kA, kHttpPort), Verdict::kDrop);
}

// While the daemon is away the datapath installs addresses and their names itself, and
// extends entries it knows: the table takes them in once it looks again.
TEST_F(AllowedIpTableTest, WhatWasInstalledWhileTheTableDidNotLookIsAdopted) {
  AllowedIpTable allowed = table();
  allowed.install(kHost, {in(kA, 60)}, "known.example", kRule);
  {
    // Another writer of the same maps, as the datapath is while the daemon is away.
    AllowedIpTable away = table();
    away.install(kHost, {in(kA, 300)}, "known.example", kRule);
    away.install(kHost, {in(kB, 120), in(kV6, 120)}, "new.example", kOtherRule);
    away.install(kPod, {in(kC, 90)}, "pod.example", kRule);
  }
  EXPECT_EQ(allowed.size(), 1u);

  EXPECT_EQ(allowed.adoptDatapathLearned(), 3u);
  EXPECT_EQ(entriesOf(allowed),
            (std::vector<Entry>{
                {kHost, kA.toString(), at(300), kRule, {"known.example"}},
                {kHost, kB.toString(), at(120), kOtherRule, {"new.example"}},
                {kHost, kV6.toString(), at(120), kOtherRule, {"new.example"}},
                {kPod, kC.toString(), at(90), kRule, {"pod.example"}},
            }));
  EXPECT_EQ(allowed.size(), 4u);
  EXPECT_EQ(allowed.adoptDatapathLearned(), 0u) << "taken in once";

  // Each expires when the datapath said, the one it extended too.
  EXPECT_EQ(allowed.removeExpired(at(100)), 1u);
  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(allowed.removeExpired(at(200)), 2u);
  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(allowed.removeExpired(at(301)), 1u);
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
  EXPECT_EQ(walkedSize(), 0u);
  EXPECT_TRUE(learnedNames().empty());
}

// The datapath learns with --min-ttl only; the daemon, taking in what it learned,
// raises the expiry of the names whose rule sets a minTTL, whichever name comes first.
TEST_F(AllowedIpTableTest, AnAdoptedAddressGetsTheExpiryItsRuleAsksFor) {
  AllowedIpTable allowed = table();
  {
    AllowedIpTable away = table();
    away.install(kHost, {in(kA, 10)}, "floored.example", kRule);
    away.install(kHost, {in(kA, 10)}, "other.example", kOtherRule);
    away.install(kHost, {in(kB, 10)}, "plain.example", kOtherRule);
  }
  const auto floor = [&](std::uint32_t identity, const std::string& name) -> std::uint64_t {
    return identity == kHost && name == "floored.example" ? at(60) : 0;
  };
  EXPECT_EQ(allowed.adoptDatapathLearned(floor), 3u);
  const auto entries = entriesOf(allowed);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].expiry_ns, at(60)) << entries[0].ip;
  EXPECT_EQ(entries[1].expiry_ns, at(10)) << entries[1].ip;

  EXPECT_EQ(allowed.removeExpired(at(30)), 1u);
  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(synTo(kB), Verdict::kDrop);
  EXPECT_EQ(allowed.removeExpired(at(60)), 1u);
  EXPECT_EQ(synTo(kA), Verdict::kDrop);
}

TEST_F(AllowedIpTableTest, NamesOfAddressesThatAreGoneAreRemovedAtStart) {
  {
    AllowedIpTable first = table();
    first.install(kHost, {in(kA, 60)}, "kept.example", kRule);
    first.install(kHost, {in(kB, 60)}, "orphan.example", kRule);
  }
  // B went from allowed_ips without its name (an older daemon, a crash between the two).
  skouter_allowed_ip_key key{};
  key.identity = kHost;
  key.ip = maps::toBpfAddr(kB);
  ASSERT_TRUE(datapath().allowedIps().erase(key));
  AllowedIpTable second = table();
  EXPECT_EQ(learnedNames(),
            (std::map<std::string, std::vector<std::string>>{{kA.toString(), {"kept.example"}}}));
  EXPECT_EQ(second.names(), 1u);
}

}  // namespace
}  // namespace skouter::bpftest

namespace skouter::bpftest {
namespace {

// THREATS 3 and 4: a workload answered with ever new addresses (an accomplice's zone
// under an allowed wildcard) must not fill allowed_ips, shared by every workload, nor
// evict another workload's addresses.
TEST_F(AllowedIpTableTest, AWorkloadBeyondItsLimitLosesOnlyItsOwnLeastRecentlyAnsweredAddresses) {
  AllowedIpTable allowed = table(0, 0, 3);
  allowed.install(kHost, {in(kA, 60)}, "shared.example", kRule);
  allowed.install(kHost, {in(kB, 60)}, "other.example", kRule);
  allowed.install(kPod, {in(kA, 60)}, "one.example", kRule);
  allowed.install(kPod, {in(kB, 60)}, "two.example", kRule);
  allowed.install(kPod, {in(kC, 60), in(kV6, 60)}, "three.example", kRule);
  // Four addresses for the pod: A, answered first, went.
  EXPECT_EQ(allowed.addressesOf(kPod), 3u);
  // Answered again, B is the pod's most recent.
  allowed.install(kPod, {in(kB, 60)}, "two.example", kRule);
  const auto result = allowed.install(kPod, {in(kD, 60)}, "four.example", kRule);
  EXPECT_EQ(result.installed, 1u);
  EXPECT_EQ(result.workload_evicted, 1u);
  EXPECT_EQ(entriesOf(allowed), (std::vector<Entry>{
                                    {kHost, kA.toString(), at(60), kRule, {"shared.example"}},
                                    {kHost, kB.toString(), at(60), kRule, {"other.example"}},
                                    {kPod, kB.toString(), at(60), kRule, {"two.example"}},
                                    {kPod, kD.toString(), at(60), kRule, {"four.example"}},
                                    {kPod, kV6.toString(), at(60), kRule, {"three.example"}},
                                }));
  EXPECT_EQ(learnedNames(), (std::map<std::string, std::vector<std::string>>{
                                {kA.toString(), {"shared.example"}},
                                {kB.toString(), {"other.example", "two.example"}},
                                {kD.toString(), {"four.example"}},
                                {kV6.toString(), {"three.example"}},
                            }));
  EXPECT_EQ(allowed.size(), 5u);
  EXPECT_EQ(allowed.size(), walkedSize());
  // The host's own addresses still open the firewall for it.
  EXPECT_EQ(synTo(kA), Verdict::kPass);
  EXPECT_EQ(synTo(kB), Verdict::kPass);
}

TEST_F(AllowedIpTableTest, ALowerWorkloadLimitAppliesWhenTheTableIsReadBack) {
  {
    AllowedIpTable first = table();
    first.install(kPod, {in(kA, 60), in(kB, 120)}, "web.example", kRule);
    first.install(kPod, {in(kC, 600)}, "api.example", kRule);
    first.install(kHost, {in(kD, 30)}, "host.example", kRule);
  }
  // The later expiry stands in for the more recent answer.
  AllowedIpTable second = table(0, 0, 2);
  EXPECT_EQ(entriesOf(second), (std::vector<Entry>{
                                   {kHost, kD.toString(), at(30), kRule, {"host.example"}},
                                   {kPod, kB.toString(), at(120), kRule, {"web.example"}},
                                   {kPod, kC.toString(), at(600), kRule, {"api.example"}},
                               }));
  EXPECT_EQ(second.size(), 3u);
  EXPECT_EQ(second.size(), walkedSize());
}

// The status and /metrics read the table's count, not the map: it must stay what the
// map holds through installs, evictions, expiry, policy changes and a restart.
TEST_F(AllowedIpTableTest, TheCountOfEntriesIsWhatTheMapHolds) {
  {
    AllowedIpTable allowed = table(2);
    EXPECT_EQ(allowed.size(), 0u);
    allowed.install(kHost, {in(kA, 10), in(kB, 60)}, "web.example", kRule);
    allowed.install(kHost, {in(kA, 60)}, "web.example", kRule);  // already there
    allowed.install(kHost, {in(kC, 60)}, "web.example", kRule);  // evicts B
    allowed.install(kPod, {in(kA, 60), in(kV6, 5)}, "pod.example", kRule);
    EXPECT_EQ(allowed.size(), 4u);
    EXPECT_EQ(allowed.size(), walkedSize());
    EXPECT_EQ(allowed.removeExpired(at(6)), 1u);
    EXPECT_EQ(allowed.size(), 3u);
    allowed.applyPolicy(kPod, allowing({}));
    EXPECT_EQ(allowed.size(), 2u);
    EXPECT_EQ(allowed.size(), walkedSize());
  }
  AllowedIpTable restarted = table(2);
  EXPECT_EQ(restarted.size(), 2u);
  restarted.install(kPod, {in(kD, 60)}, "pod.example", kRule);
  EXPECT_EQ(restarted.size(), 3u);
  EXPECT_EQ(restarted.size(), walkedSize());
}

// Names and addresses are kept in slots reused by number: through long churn (names
// and addresses forgotten by every limit, by expiry and by policy, their slots given
// to new ones) what the table knows must stay exactly what the maps hold.
TEST_F(AllowedIpTableTest, ChurnLeavesMemoryAndTheMapsInAgreement) {
  constexpr std::size_t kIpsPerName = 3;
  constexpr std::size_t kNamesPerIp = 4;
  constexpr std::size_t kIpsPerWorkload = 12;
  AllowedIpTable allowed = table(kIpsPerName, kNamesPerIp, kIpsPerWorkload);
  std::mt19937 random(13);
  std::vector<IpAddress> pool;
  for (int i = 1; i <= 30; ++i) pool.push_back(ip(("198.51.100." + std::to_string(i)).c_str()));
  for (int i = 1; i <= 10; ++i) pool.push_back(ip(("2001:db8:1::" + std::to_string(i)).c_str()));
  const auto nameOf = [](std::size_t i) { return "n" + std::to_string(i) + ".churn.example"; };

  // (identity, address) -> names, as learned_names holds them.
  const auto mapPairs = [&] {
    std::map<std::pair<std::uint32_t, std::string>, std::vector<std::string>> pairs;
    datapath().learnedNames().forEach(
        [&](const skouter_learned_name_key& key, const skouter_learned_name_value& value) {
          pairs[{key.ip.identity, maps::fromBpfAddr(key.ip.ip).toString()}].push_back(value.name);
        });
    for (auto& [address, names] : pairs) std::sort(names.begin(), names.end());
    return pairs;
  };
  const auto check = [&](const AllowedIpTable& checked, int step) {
    const auto pairs = mapPairs();
    std::size_t pair_count = 0;
    std::map<std::pair<std::uint32_t, std::string>, std::size_t> ips_of_name;
    std::map<std::uint32_t, std::size_t> ips_of_identity;
    for (const auto& [address, names] : pairs) {
      const auto entry = checked.entryOf(address.first, ip(address.second.c_str()));
      ASSERT_TRUE(entry) << "step " << step << " " << address.second;
      ASSERT_EQ(entry->names, names) << "step " << step << " " << address.second;
      ASSERT_LE(names.size(), kNamesPerIp);
      pair_count += names.size();
      ++ips_of_identity[address.first];
      for (const auto& name : names) {
        ++ips_of_name[{address.first, name}];
        ASSERT_TRUE(checked.holds(address.first, name, ip(address.second.c_str())));
      }
    }
    ASSERT_EQ(checked.nameCount(), pair_count) << "step " << step;
    ASSERT_EQ(checked.names(), ips_of_name.size()) << "step " << step;
    for (const auto& [name, count] : ips_of_name) ASSERT_LE(count, kIpsPerName);
    for (const std::uint32_t identity : {kHost, kPod}) {
      ASSERT_EQ(checked.addressesOf(identity), ips_of_identity[identity]) << "step " << step;
      ASSERT_LE(checked.addressesOf(identity), kIpsPerWorkload);
    }
    // Every entry is held by a name.
    ASSERT_EQ(checked.size(), walkedSize()) << "step " << step;
    ASSERT_EQ(checked.size(), pairs.size()) << "step " << step;
  };

  std::uint64_t clock_s = 0;
  for (int step = 0; step < 3000; ++step) {
    const std::uint32_t identity = random() % 2 ? kHost : kPod;
    const std::size_t what = random() % 100;
    if (what < 90) {
      std::vector<LearnedAddress> addresses;
      for (std::size_t n = random() % 4; n > 0; --n) {
        addresses.push_back(in(pool[random() % pool.size()], clock_s + 1 + random() % 100));
      }
      const InstallResult result =
          allowed.install(identity, addresses, nameOf(random() % 60), kRule, tcp(kHttpsPort));
      ASSERT_EQ(result.failed, 0u);
    } else if (what < 95) {
      clock_s += 10;
      allowed.removeExpired(at(clock_s));
    } else {
      // Drops the names of one residue, so that names of every age go.
      const std::size_t dropped = random() % 5;
      allowed.applyPolicy(identity, [&](const std::string& name) -> std::optional<NameVerdict> {
        if (std::hash<std::string>{}(name) % 5 == dropped) return std::nullopt;
        return NameVerdict{kRule, tcp(kHttpsPort)};
      });
    }
    if (step % 50 == 0) check(allowed, step);
  }
  check(allowed, 3000);
  const auto before = entriesOf(allowed);
  AllowedIpTable restarted = table(kIpsPerName, kNamesPerIp, kIpsPerWorkload);
  EXPECT_EQ(entriesOf(restarted), before);
  check(restarted, -1);
}

}  // namespace
}  // namespace skouter::bpftest
