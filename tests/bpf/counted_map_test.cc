// CountedMap over real pinned maps: the count the status and /metrics show for the maps
// the daemon writes is what the map holds, through inserts, replacements, deletions, a
// full map and a restart.
#include "bpf/counted_map.h"

#include <gtest/gtest.h>

#include <cstring>

#include "tests/bpf/datapath_fixture.h"

namespace skouter::bpftest {
namespace {

using ResolverTable = CountedMap<skouter_resolver_key, skouter_resolver_value>;
using PrefixTable = CountedMap<skouter_link_prefix_key, std::uint32_t>;

skouter_resolver_key resolverKey(std::uint32_t n) {
  skouter_resolver_key key{};
  key.family = SKOUTER_FAMILY_IPV6;
  key.port = 53;
  std::memcpy(key.addr, &n, sizeof(n));
  return key;
}

skouter_link_prefix_key prefixKey(std::uint8_t third_byte, std::uint32_t length) {
  skouter_link_prefix_key key{};
  key.prefixlen = SKOUTER_LINK_PREFIX_FIXED_BITS + length;
  key.ifindex = 7;
  key.family = SKOUTER_FAMILY_IPV4;
  key.addr[0] = 198;
  key.addr[1] = 51;
  key.addr[2] = third_byte;
  return key;
}

class CountedMapTest : public DatapathFixture {
 protected:
  std::size_t walked(const ResolverTable& table) { return table.keys().size(); }
};

TEST_F(CountedMapTest, AHashMapCountsNewEntriesDeletionsAndWhatARestartFinds) {
  const std::size_t before = datapath().trustedResolvers().keys().size();
  ResolverTable table(datapath().trustedResolvers());
  EXPECT_EQ(table.size(), before);

  ASSERT_EQ(table.update(resolverKey(1), {}), 0);
  ASSERT_EQ(table.update(resolverKey(2), {}), 0);
  ASSERT_EQ(table.update(resolverKey(1), {}), 0);  // replaced, not added
  EXPECT_EQ(table.size(), before + 2);
  EXPECT_TRUE(table.erase(resolverKey(2)));
  EXPECT_FALSE(table.erase(resolverKey(2)));  // gone already
  EXPECT_EQ(table.size(), before + 1);
  EXPECT_EQ(table.size(), walked(table));

  // A full map refuses new keys (counted as nothing) and still replaces old ones.
  std::uint32_t n = 3;
  while (table.update(resolverKey(n), {}) == 0) ++n;
  EXPECT_EQ(table.size(), 1024u);
  EXPECT_EQ(table.update(resolverKey(1), {}), 0);
  EXPECT_EQ(table.size(), 1024u);
  EXPECT_EQ(table.size(), walked(table));

  // A restarted daemon counts what the last left pinned.
  ResolverTable restarted(datapath().trustedResolvers());
  EXPECT_EQ(restarted.size(), 1024u);
}

TEST_F(CountedMapTest, AnLpmTrieCountsExactPrefixesNotTheOnesThatCoverThem) {
  PrefixTable table(datapath().linkPrefixes());
  const std::size_t before = table.size();
  ASSERT_EQ(table.update(prefixKey(0, 24), 1), 0);
  // Covered by the /24 but a key of its own.
  ASSERT_EQ(table.update(prefixKey(0, 25), 1), 0);
  ASSERT_EQ(table.update(prefixKey(0, 24), 1), 0);
  EXPECT_EQ(table.size(), before + 2);
  EXPECT_TRUE(table.erase(prefixKey(0, 24)));
  EXPECT_FALSE(table.erase(prefixKey(0, 24)));
  EXPECT_EQ(table.size(), before + 1);
  EXPECT_EQ(table.size(), table.keys().size());
  EXPECT_EQ(PrefixTable(datapath().linkPrefixes()).size(), before + 1);
}

}  // namespace
}  // namespace skouter::bpftest
