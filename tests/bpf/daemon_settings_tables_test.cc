// TrustedResolverTable, DatapathSettings, IdentityTable and InterfaceTable over the
// pinned maps of a loaded datapath:
// what the daemon decided is what the maps hold, and what it keeps as pinned stays.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "bpf/maps/bpf_address.h"
#include "bpf/maps/datapath_settings.h"
#include "bpf/maps/identity_table.h"
#include "bpf/maps/interface_table.h"
#include "bpf/maps/trusted_resolver_table.h"
#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using maps::DatapathSettings;
using maps::IdentityTable;
using maps::InterfaceTable;
using maps::TrustedResolverTable;
using resolver::ResolverAddress;

ResolverAddress resolverAt(const char* ip, std::uint16_t port = 53) {
  return {IpAddress::parse(ip).value(), port};
}

class DaemonSettingsTablesTest : public DatapathFixture {
 protected:
  std::set<std::string> trusted() {
    std::set<std::string> result;
    for (const auto& key : datapath().trustedResolvers().keys()) {
      result.insert(
          ResolverAddress{maps::fromBpfAddr(key.family, key.addr), ntohs(key.port)}.toString());
    }
    return result;
  }
};

TEST_F(DaemonSettingsTablesTest, TrustedResolversAreExactlyTheWantedOnesUnlessOthersAreKept) {
  TrustedResolverTable table(datapath().trustedResolvers());
  EXPECT_EQ(table.sync({resolverAt("192.0.2.53"), resolverAt("2001:db8::53", 5353)}, false), 0u);
  EXPECT_EQ(trusted(), (std::set<std::string>{"192.0.2.53:53", "[2001:db8::53]:5353"}));
  EXPECT_EQ(table.size(), 2u);

  // Waiting for the cluster: the ones in place stay, the new one is added.
  EXPECT_EQ(table.sync({resolverAt("198.51.100.53")}, true), 0u);
  EXPECT_EQ(trusted(),
            (std::set<std::string>{"192.0.2.53:53", "[2001:db8::53]:5353", "198.51.100.53:53"}));

  EXPECT_EQ(table.sync({resolverAt("198.51.100.53")}, false), 0u);
  EXPECT_EQ(trusted(), (std::set<std::string>{"198.51.100.53:53"}));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(TrustedResolverTable(datapath().trustedResolvers()).size(), 1u);
}

TEST_F(DaemonSettingsTablesTest, AFullMapRefusesTheResolversBeyondItAfterMakingRoom) {
  TrustedResolverTable table(datapath().trustedResolvers());
  std::vector<ResolverAddress> many;
  for (std::uint16_t port = 1; port <= 2000; ++port) many.push_back(resolverAt("192.0.2.1", port));
  const std::size_t refused = table.sync(many, false);
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(table.size() + refused, many.size());

  // The old ones go first, so the new ones fit.
  EXPECT_EQ(table.sync({resolverAt("192.0.2.53")}, false), 0u);
  EXPECT_EQ(trusted(), (std::set<std::string>{"192.0.2.53:53"}));
}

TEST_F(DaemonSettingsTablesTest, TheConfigCarriesThisLayoutAndKeepsThePinnedFlagsAsked) {
  DatapathSettings settings(datapath().config(), datapath().heartbeat());
  skouter_config config{};
  config.flags = SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT;
  config.reinject_mark = 0x5c;
  settings.writeConfig(config);
  auto written = datapath().config().lookup(0);
  ASSERT_TRUE(written);
  EXPECT_EQ(written->layout_version, static_cast<std::uint32_t>(SKOUTER_LAYOUT_VERSION));
  EXPECT_EQ(written->flags,
            static_cast<std::uint32_t>(SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_AUDIT));
  EXPECT_EQ(written->reinject_mark, 0x5cu);

  // HOST_POLICED kept as pinned (set), FAIL_OPEN kept as pinned (unset), AUDIT as told.
  config.flags = SKOUTER_CFG_FAIL_OPEN;
  settings.writeConfig(config, SKOUTER_CFG_HOST_POLICED | SKOUTER_CFG_FAIL_OPEN);
  written = datapath().config().lookup(0);
  ASSERT_TRUE(written);
  EXPECT_EQ(written->flags, static_cast<std::uint32_t>(SKOUTER_CFG_HOST_POLICED));
}

TEST_F(DaemonSettingsTablesTest, TheHeartbeatIsTheTimeGiven) {
  DatapathSettings settings(datapath().config(), datapath().heartbeat());
  EXPECT_TRUE(settings.beat(123456789));
  const auto heartbeat = datapath().heartbeat().lookup(0);
  ASSERT_TRUE(heartbeat);
  EXPECT_EQ(heartbeat->last_beat_ns, 123456789u);
}

// A departed workload's address is unbound only while it is still its own: the IPAM
// may have given it to another workload already.
TEST_F(DaemonSettingsTablesTest, IdentitiesAreUnboundOnlyFromTheirOwnWorkload) {
  IdentityTable table(datapath().identities());
  const auto pod = IpAddress::parse("198.51.100.10").value();
  const auto node = IpAddress::parse("2001:db8::2").value();
  skouter_identity_value binding{};
  binding.identity = 300;
  binding.ifindex = 7;
  EXPECT_TRUE(table.bind({pod}, binding));
  skouter_identity_value host{};
  host.identity = SKOUTER_HOST_IDENTITY;
  EXPECT_TRUE(table.bind({node}, host));
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.identities(),
            (std::map<IpAddress, std::uint32_t>{{pod, 300}, {node, SKOUTER_HOST_IDENTITY}}));
  ASSERT_TRUE(datapath().identities().lookup(maps::toBpfAddr(pod)));
  EXPECT_EQ(datapath().identities().lookup(maps::toBpfAddr(pod))->ifindex, 7u);

  table.unbind(pod, 301);  // another workload's identity: the address is not its own
  EXPECT_EQ(table.identityOf(pod), 300u);
  table.unbind(pod, 300);
  EXPECT_EQ(table.identityOf(pod), std::nullopt);
  EXPECT_EQ(table.size(), 1u);
}

// A restarted daemon's table knows what the last one bound, and keeps to its own record
// of the map: binding again what is bound issues no write (the entry changed here
// behind its back stays as it is), while a real change does.
TEST_F(DaemonSettingsTablesTest, IdentityTableKnowsPinnedBindingsAndRewritesOnlyChanges) {
  const auto pod = IpAddress::parse("198.51.100.10").value();
  const auto other = IpAddress::parse("2001:db8::20").value();
  skouter_identity_value binding{};
  binding.identity = 300;
  binding.ifindex = 7;
  EXPECT_TRUE(IdentityTable(datapath().identities()).bind({pod, other}, binding));

  IdentityTable table(datapath().identities());
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.identities(), (std::map<IpAddress, std::uint32_t>{{pod, 300}, {other, 300}}));
  EXPECT_EQ(table.identityOf(other), 300u);

  skouter_identity_value probe = binding;
  probe.ifindex = 99;
  ASSERT_EQ(datapath().identities().update(maps::toBpfAddr(pod), probe), 0);
  EXPECT_TRUE(table.bind({pod}, binding));
  EXPECT_EQ(datapath().identities().lookup(maps::toBpfAddr(pod))->ifindex, 99u);

  skouter_identity_value moved = binding;
  moved.ifindex = 8;
  EXPECT_TRUE(table.bind({pod}, moved));
  EXPECT_EQ(datapath().identities().lookup(maps::toBpfAddr(pod))->ifindex, 8u);
  EXPECT_EQ(table.size(), 2u);

  table.unbind(other, 300);
  EXPECT_FALSE(datapath().identities().lookup(maps::toBpfAddr(other)));
  EXPECT_EQ(IdentityTable(datapath().identities()).identities(),
            (std::map<IpAddress, std::uint32_t>{{pod, 300}}));
}

// Likewise for the interfaces and link_prefixes maps: a restarted daemon's table knows
// what is there, writes only what changed, and removes what is gone.
TEST_F(DaemonSettingsTablesTest, InterfaceTableKnowsPinnedEntriesAndRewritesOnlyChanges) {
  const std::vector<std::pair<std::uint32_t, IpPrefix>> prefixes = {
      {2, IpPrefix::parse("192.0.2.0/24").value()}, {2, IpPrefix::parse("2001:db8::/64").value()}};
  InterfaceTable(datapath().interfaces(), datapath().linkPrefixes())
      .write({{2, SKOUTER_INTERFACE_TRANSIT}, {5, SKOUTER_INTERFACE_POD}}, prefixes);

  InterfaceTable table(datapath().interfaces(), datapath().linkPrefixes());
  EXPECT_EQ(table.interfaceCount(), 2u);
  EXPECT_EQ(table.prefixCount(), 2u);

  // Behind the table's back, to see whether it writes.
  ASSERT_TRUE(datapath().interfaces().erase(5));
  table.write({{2, SKOUTER_INTERFACE_TRANSIT}, {5, SKOUTER_INTERFACE_POD}}, prefixes);
  EXPECT_FALSE(datapath().interfaces().lookup(5));

  table.write({{2, SKOUTER_INTERFACE_GUEST}, {6, SKOUTER_INTERFACE_POD}}, {prefixes.front()});
  EXPECT_EQ(datapath().interfaces().lookup(6)->kind, SKOUTER_INTERFACE_POD);
  EXPECT_EQ(datapath().interfaces().lookup(2)->kind, SKOUTER_INTERFACE_GUEST);
  EXPECT_EQ(datapath().interfaces().keys().size(), 2u);
  EXPECT_EQ(datapath().linkPrefixes().keys().size(), 1u);
  EXPECT_EQ(table.prefixCount(), 1u);
}

}  // namespace
}  // namespace skouter::bpftest
