// PortSetTable over the pinned port_sets map of a loaded datapath: each distinct set is
// stored once, under an id that survives a restart.
#include "bpf/maps/port_set_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>
#include <optional>
#include <set>

#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using maps::PortSetTable;
using policy::PortProtocol;
using policy::PortRange;
using policy::PortSet;

const PortSet kHttps = {{PortProtocol::kTcp, 443, 443}};
const PortSet kWeb = {{PortProtocol::kTcp, 80, 80}, {PortProtocol::kTcp, 443, 443}};
const PortSet kMixed = {{PortProtocol::kTcp, 8000, 8080},
                        {PortProtocol::kUdp, 53, 53},
                        {PortProtocol::kSctp, 3868, 3868}};

class PortSetTableTest : public DatapathFixture {
 protected:
  PortSetTable table() { return PortSetTable(datapath().portSets()); }

  // The map itself, as ranges.
  std::map<std::uint32_t, PortSet> stored() {
    std::map<std::uint32_t, PortSet> result;
    datapath().portSets().forEach([&](const std::uint32_t& id, const skouter_port_set& value) {
      PortSet& ports = result[id];
      EXPECT_LE(value.count, static_cast<std::uint32_t>(SKOUTER_MAX_PORT_RANGES));
      for (std::uint32_t i = 0; i < value.count && i < SKOUTER_MAX_PORT_RANGES; ++i) {
        ports.push_back({static_cast<PortProtocol>(value.ranges[i].protocol), value.ranges[i].first,
                         value.ranges[i].last});
      }
    });
    return result;
  }
};

TEST_F(PortSetTableTest, TheSameSetIsStoredOnceUnderOneId) {
  PortSetTable sets = table();
  const std::optional<std::uint32_t> first = sets.intern(kWeb);
  ASSERT_TRUE(first.has_value());
  EXPECT_NE(*first, 0u);
  EXPECT_EQ(sets.intern(kWeb), first);
  EXPECT_EQ(sets.size(), 1u);
  EXPECT_EQ(stored(), (std::map<std::uint32_t, PortSet>{{*first, kWeb}}));
  EXPECT_EQ(sets.lookup(*first), kWeb);
}

TEST_F(PortSetTableTest, DifferentSetsGetDifferentIds) {
  PortSetTable sets = table();
  const auto https = sets.intern(kHttps);
  const auto web = sets.intern(kWeb);
  const auto mixed = sets.intern(kMixed);
  ASSERT_TRUE(https && web && mixed);
  EXPECT_EQ((std::set<std::uint32_t>{*https, *web, *mixed}).size(), 3u);
  EXPECT_EQ(stored(),
            (std::map<std::uint32_t, PortSet>{{*https, kHttps}, {*web, kWeb}, {*mixed, kMixed}}));
  EXPECT_EQ(sets.lookup(*mixed), kMixed);
}

TEST_F(PortSetTableTest, EveryPortIsZeroAndNeverStored) {
  PortSetTable sets = table();
  EXPECT_EQ(sets.intern({}), std::optional<std::uint32_t>(0));
  EXPECT_EQ(sets.size(), 0u);
  EXPECT_TRUE(stored().empty());
  EXPECT_EQ(sets.lookup(0), PortSet{});
}

TEST_F(PortSetTableTest, AnUnknownIdOpensNoPort) {
  PortSetTable sets = table();
  const PortSet unknown = sets.lookup(12345);
  EXPECT_FALSE(unknown.empty()) << "empty would mean every port";
  for (const PortProtocol protocol :
       {PortProtocol::kTcp, PortProtocol::kUdp, PortProtocol::kSctp}) {
    for (const std::uint16_t port : {1, 80, 443, 65535}) {
      EXPECT_FALSE(policy::portSetAllows(unknown, protocol, port));
    }
  }
}

TEST_F(PortSetTableTest, MoreRangesThanAnEntryHoldsAreWidenedToFit) {
  PortSetTable sets = table();
  PortSet most;
  for (std::uint16_t i = 0; i < SKOUTER_MAX_PORT_RANGES; ++i) {
    most.push_back({PortProtocol::kTcp, static_cast<std::uint16_t>(1000 + 2 * i),
                    static_cast<std::uint16_t>(1000 + 2 * i)});
  }
  const auto id = sets.intern(most);
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(stored().at(*id), most);

  EXPECT_EQ(sets.widened(), 0u);

  // One range too many: the narrowest gap between TCP ranges (1000 and 1002) closes.
  PortSet too_many = most;
  too_many.push_back({PortProtocol::kUdp, 9, 9});
  const auto widened = sets.intern(too_many);
  ASSERT_TRUE(widened.has_value());
  const PortSet held = stored().at(*widened);
  EXPECT_EQ(held.size(), std::size_t{SKOUTER_MAX_PORT_RANGES});
  for (const PortRange& range : too_many) {
    EXPECT_TRUE(policy::portSetAllows(held, range.protocol, range.first)) << range.first;
  }
  EXPECT_TRUE(policy::portSetAllows(held, PortProtocol::kTcp, 1001));
  EXPECT_FALSE(policy::portSetAllows(held, PortProtocol::kTcp, 1003));
  EXPECT_EQ(sets.widened(), 1u);
  EXPECT_EQ(sets.size(), 2u);
}

TEST_F(PortSetTableTest, RetainOnlyRemovesTheSetsNoEntryUses) {
  PortSetTable sets = table();
  const auto https = sets.intern(kHttps);
  const auto web = sets.intern(kWeb);
  const auto mixed = sets.intern(kMixed);
  ASSERT_TRUE(https && web && mixed);

  // 0 (every port) may be in use; it has no entry to keep.
  sets.retainOnly({0, *web});
  EXPECT_EQ(sets.size(), 1u);
  EXPECT_EQ(stored(), (std::map<std::uint32_t, PortSet>{{*web, kWeb}}));
  EXPECT_EQ(sets.lookup(*web), kWeb);
  EXPECT_FALSE(policy::portSetAllows(sets.lookup(*https), PortProtocol::kTcp, 443));

  // A removed set interned again comes back under its old id.
  EXPECT_EQ(sets.intern(kHttps), https);
  sets.retainOnly({});
  EXPECT_TRUE(stored().empty());
  EXPECT_EQ(sets.size(), 0u);
}

TEST_F(PortSetTableTest, ANewTableReadsBackThePinnedSets) {
  std::uint32_t https = 0;
  std::uint32_t mixed = 0;
  {
    PortSetTable first = table();
    https = first.intern(kHttps).value();
    mixed = first.intern(kMixed).value();
  }
  PortSetTable second = table();
  EXPECT_EQ(second.size(), 2u);
  EXPECT_EQ(second.lookup(https), kHttps);
  EXPECT_EQ(second.lookup(mixed), kMixed);
  // Same ids, and nothing stored twice.
  EXPECT_EQ(second.intern(kMixed), std::optional<std::uint32_t>(mixed));
  EXPECT_EQ(second.intern(kHttps), std::optional<std::uint32_t>(https));
  EXPECT_EQ(stored().size(), 2u);
  // And what it did not know it adds beside them.
  const auto web = second.intern(kWeb);
  ASSERT_TRUE(web.has_value());
  EXPECT_EQ(stored().size(), 3u);
  // retainOnly works on sets read back as on its own.
  second.retainOnly({*web});
  EXPECT_EQ(stored(), (std::map<std::uint32_t, PortSet>{{*web, kWeb}}));
}

// Two sets whose ids collide: the second moves on to the next free id, and both keep
// their meaning.
TEST_F(PortSetTableTest, ACollidingIdMovesOnToTheNext) {
  std::uint32_t id = 0;
  {
    PortSetTable first = table();
    id = first.intern(kHttps).value();
  }
  // Another set, pinned where kHttps would go, as if its hash had collided.
  skouter_port_set other{};
  other.count = 1;
  other.ranges[0] = portRange(IPPROTO_UDP, 53, 53);
  ASSERT_EQ(datapath().portSets().update(id, other), 0);

  PortSetTable sets = table();
  const auto https = sets.intern(kHttps);
  ASSERT_TRUE(https.has_value());
  EXPECT_NE(*https, id);
  EXPECT_NE(*https, 0u);
  EXPECT_EQ(sets.lookup(*https), kHttps);
  EXPECT_EQ(sets.lookup(id), (PortSet{{PortProtocol::kUdp, 53, 53}}));
  EXPECT_EQ(stored().size(), 2u);
  EXPECT_EQ(sets.intern(kHttps), https);
}

// What the table stores is what the datapath enforces.
TEST_F(PortSetTableTest, AnInternedSetIsEnforced) {
  PortSetTable sets = table();
  const TestNetwork& n = ipv4Network();
  allowIp(n.learned, 0, sets.intern(kMixed).value());
  const auto syn = [&](std::uint16_t port) {
    return runUplinkEgress(PacketBuilder(n.host, n.learned).tcp(40000, port, kTcpSyn).build());
  };
  const auto udp = [&](std::uint16_t port) {
    return runUplinkEgress(PacketBuilder(n.host, n.learned).udp(40000, port).build());
  };
  EXPECT_EQ(syn(8000), Verdict::kPass);
  EXPECT_EQ(syn(8080), Verdict::kPass);
  EXPECT_EQ(syn(8081), Verdict::kDrop);
  EXPECT_EQ(udp(53), Verdict::kPass);
  EXPECT_EQ(udp(8000), Verdict::kDrop);
  EXPECT_EQ(runUplinkEgress(PacketBuilder(n.host, n.learned).sctp(40000, 3868).build()),
            Verdict::kPass);
}

}  // namespace
}  // namespace skouter::bpftest
